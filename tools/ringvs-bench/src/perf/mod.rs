//! The side-by-side performance benchmark (`tools/bench`, `ringvs-bench perf`).
//!
//! Three datapaths do the same LVS-NAT job on the same pinned CPU, one after the
//! other, in fresh namespaces each time:
//!
//! * `ringvs-nat-1w` / `ringvs-nat-2w`: `ringvs run` with 1 (then 2) workers;
//! * `kernel-nft`: the Linux kernel forwarding, with nftables DNAT to the real
//!   servers (`numgen inc` round robin) and conntrack;
//! * `ringvs-io-only`: `ringvs run --io-only`, forwarding by destination address
//!   with no NAT (the ceiling of ringvs's own I/O path).
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

use ringvs::control::proto::{self, Command};
use ringvs::lab::{
    DIRECTOR_READY_TIMEOUT, EXT_ADDR_CIDR, HTTP_READY_TIMEOUT, INT_ADDR_CIDR, Lab, LabOptions,
    Spawned, VIP, ip, kill_and_delete_ns, listens_on, ns_command, ns_run, rs_addr,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

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
        default_value = "kernel-nft,ringvs-nat-1w,ringvs-io-only,ringvs-xdp-1w,ringvs-xdp-io-only,ringvs-nat-2w"
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
}

/// One datapath under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datapath {
    RingvsNat { workers: usize, io: Io },
    KernelNft,
    RingvsIoOnly { io: Io },
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
}

const DATAPATHS: [(&str, Datapath); 7] = [
    (
        "ringvs-nat-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::Packet,
        },
    ),
    (
        "ringvs-nat-2w",
        Datapath::RingvsNat {
            workers: 2,
            io: Io::Packet,
        },
    ),
    (
        "ringvs-xdp-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpGeneric,
        },
    ),
    (
        "ringvs-xdp-native-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpNative,
        },
    ),
    ("kernel-nft", Datapath::KernelNft),
    ("ringvs-io-only", Datapath::RingvsIoOnly { io: Io::Packet }),
    (
        "ringvs-xdp-io-only",
        Datapath::RingvsIoOnly { io: Io::XdpGeneric },
    ),
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
    fn workers(self) -> usize {
        match self {
            Self::RingvsNat { workers, .. } => workers,
            _ => 1,
        }
    }
    fn io(self) -> Io {
        match self {
            Self::RingvsNat { io, .. } | Self::RingvsIoOnly { io } => io,
            Self::KernelNft => Io::Packet,
        }
    }
    fn io_only(self) -> bool {
        matches!(self, Self::RingvsIoOnly { .. })
    }
    /// Where the generator sends UDP: the VIP, or (no NAT) a real server.
    fn udp_dst(self) -> String {
        if self.io_only() {
            format!("{}:{UDP_PORT}", rs_addr(1))
        } else {
            format!("{VIP}:{UDP_PORT}")
        }
    }
    fn tcp_dst(self) -> String {
        if self.io_only() {
            format!("{}:80", rs_addr(1))
        } else {
            format!("{VIP}:80")
        }
    }
}

fn mask(cpu: usize) -> String {
    format!("{:x}", 1u128 << cpu)
}

/// Steer the receive work of `ifname` in `ns` to `cpu` (RPS on rx-0).
fn rps(ns: &str, ifname: &str, cpu: usize) -> R<()> {
    let cmd = format!(
        "echo {} > /sys/class/net/{ifname}/queues/rx-0/rps_cpus",
        mask(cpu)
    );
    ns_run(ns, "sh", &["-c", &cmd]).map(drop).map_err(s)
}

fn offloads(ns: &str, ifname: &str) -> R<()> {
    ns_run(
        ns,
        "ethtool",
        &["-K", ifname, "gro", "off", "gso", "off", "tso", "off"],
    )
    .map(drop)
    .map_err(s)
}

fn sysctl(ns: &str, kv: &str) -> R<()> {
    ns_run(ns, "sysctl", &["-qw", kv]).map(drop).map_err(s)
}

/// Namespaces made for a packet test; deleted (with their processes) on drop.
struct PacketLab {
    tag: String,
    namespaces: Vec<String>,
    ext_mac: String,
}

impl PacketLab {
    fn gen_ns(&self) -> String {
        format!("rv{}-pg", self.tag)
    }
    fn dir_ns(&self) -> String {
        format!("rv{}-pd", self.tag)
    }

    fn build(tag: &str, a: &PerfArgs) -> R<Self> {
        let mut l = PacketLab {
            tag: tag.to_owned(),
            namespaces: Vec::new(),
            ext_mac: String::new(),
        };
        l.populate(a)?; // on error `l` drops and deletes what was made
        Ok(l)
    }

    fn populate(&mut self, a: &PerfArgs) -> R<()> {
        let (g, d) = (self.gen_ns(), self.dir_ns());
        for ns in [&g, &d] {
            ip(&["netns", "add", ns]).map_err(s)?;
            self.namespaces.push(ns.clone());
            for key in ["all", "default"] {
                sysctl(ns, &format!("net.ipv6.conf.{key}.disable_ipv6=1"))?;
            }
            ip(&["-n", ns, "link", "set", "lo", "up"]).map_err(s)?;
        }
        ip(&[
            "-n", &d, "link", "add", "ext0", "type", "veth", "peer", "name", "g0", "netns", &g,
        ])
        .map_err(s)?;
        ip(&[
            "-n", &d, "link", "add", "int0", "type", "veth", "peer", "name", "s0", "netns", &g,
        ])
        .map_err(s)?;
        for (ns, ifname) in [(&d, "ext0"), (&d, "int0"), (&g, "g0"), (&g, "s0")] {
            offloads(ns, ifname)?;
        }
        ip(&["-n", &g, "addr", "add", "198.18.0.1/24", "dev", "g0"]).map_err(s)?;
        for n in [1, 2] {
            let cidr = format!("{}/24", rs_addr(n));
            ip(&["-n", &g, "addr", "add", &cidr, "dev", "s0"]).map_err(s)?;
        }
        for (ns, ifname) in [(&d, "ext0"), (&d, "int0"), (&g, "g0"), (&g, "s0")] {
            ip(&["-n", ns, "link", "set", ifname, "up"]).map_err(s)?;
        }
        // The sink: IPv4 arriving on s0 is dropped at netdev ingress, after the
        // generator's AF_PACKET RX ring has seen it. ARP still passes.
        nft(
            &g,
            &self.tag,
            "table netdev rvsink {\n  chain in {\n    type filter hook ingress device s0 priority 0; policy accept;\n    meta protocol ip drop\n  }\n}\n",
        )?;
        rps(&d, "ext0", a.dir_cpu)?;
        rps(&d, "int0", a.dir_cpu)?;
        rps(&g, "g0", a.gen_cpu)?;
        rps(&g, "s0", a.gen_cpu)?;
        self.ext_mac = ns_run(&d, "cat", &["/sys/class/net/ext0/address"])
            .map_err(s)?
            .trim()
            .to_owned();
        Ok(())
    }
}

impl Drop for PacketLab {
    fn drop(&mut self) {
        while let Some(ns) = self.namespaces.pop() {
            if let Err(e) = kill_and_delete_ns(&ns) {
                eprintln!("{ME}: could not delete namespace {ns}: {e}");
            }
        }
    }
}

/// Load an nftables ruleset into `ns` (through a temporary file).
fn nft(ns: &str, tag: &str, ruleset: &str) -> R<()> {
    let path = std::env::temp_dir().join(format!("rvperf-{tag}-{}.nft", std::process::id()));
    std::fs::write(&path, ruleset).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let p = path.display().to_string();
    let r = ns_run(ns, "nft", &["-f", &p]).map(drop).map_err(s);
    let _ = std::fs::remove_file(&path);
    r
}

/// The datapath running in a director namespace. For ringvs, its process (stopped
/// on drop, with its control socket removed); for the kernel, nothing to stop: its
/// configuration goes with the namespace.
struct Director {
    child: Option<Spawned>,
    control: PathBuf,
}

impl Director {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Spawned::id)
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        if self.child.take().is_some() {
            let _ = std::fs::remove_file(&self.control);
        }
    }
}

/// Start datapath `dp` in director namespace `ns` (NICs `ext0`/`int0`), with
/// round-robin services UDP VIP:9000 and TCP VIP:80 over the two real servers.
fn start_datapath(
    exe: &Path,
    ns: &str,
    tag: &str,
    dp: Datapath,
    a: &PerfArgs,
    max_conns: Option<u64>,
) -> R<Director> {
    let control = PathBuf::from(format!("/run/ringvs-perf-{tag}.sock"));
    if dp == Datapath::KernelNft {
        let vip = format!("{VIP}/24");
        ip(&["-n", ns, "addr", "add", &vip, "dev", "ext0"]).map_err(s)?;
        ip(&["-n", ns, "addr", "add", INT_ADDR_CIDR, "dev", "int0"]).map_err(s)?;
        for kv in [
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
            "net.ipv4.conf.ext0.rp_filter=0",
            "net.ipv4.conf.int0.rp_filter=0",
        ] {
            sysctl(ns, kv)?;
        }
        let map = format!("{{ 0 : {}, 1 : {} }}", rs_addr(1), rs_addr(2));
        let ruleset = format!(
            "table ip rvnat {{\n  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    \
             ip daddr {VIP} udp dport {UDP_PORT} dnat to numgen inc mod 2 map {map}\n    \
             ip daddr {VIP} tcp dport 80 dnat to numgen inc mod 2 map {map}\n  }}\n}}\n"
        );
        nft(ns, tag, &ruleset)?;
        return Ok(Director {
            child: None,
            control,
        });
    }
    if a.ingress_drop && dp.io() == Io::Packet {
        nft(
            ns,
            tag,
            "table netdev rvdir {\n  chain ext {\n    type filter hook ingress device ext0 priority 0; policy drop;\n  }\n  chain int {\n    type filter hook ingress device int0 priority 0; policy drop;\n  }\n}\n",
        )?;
    }
    let workers = dp.workers();
    let cpus = if workers == 1 {
        a.dir_cpu.to_string()
    } else {
        // The second worker shares the generator's CPU (contended, see the docs).
        let mut v = vec![a.dir_cpu];
        let mut c = 0;
        while v.len() < workers {
            if c != a.dir_cpu {
                v.push(c);
            }
            c += 1;
        }
        v.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
    };
    let exe_s = exe.display().to_string();
    let control_s = control.display().to_string();
    let workers_s = workers.to_string();
    let mut args: Vec<String> = Vec::new();
    if workers == 1 {
        // The whole process (control thread too) on the director's CPU.
        args.extend(["-c".into(), a.dir_cpu.to_string()]);
    } else {
        args.extend(["-a".into(), "-c".into(), "0-1023".into()]);
    }
    args.push(exe_s);
    for x in [
        "run",
        "--ext",
        "ext0",
        "--ext-addr",
        EXT_ADDR_CIDR,
        "--int",
        "int0",
        "--int-addr",
        INT_ADDR_CIDR,
        "--control",
        &control_s,
        "--workers",
        &workers_s,
        "--cpus",
        &cpus,
    ] {
        args.push(x.to_owned());
    }
    if let Some(m) = max_conns {
        args.extend(["--max-conns".into(), m.to_string()]);
    }
    if dp.io_only() {
        args.push("--io-only".into());
    }
    match dp.io() {
        Io::Packet => {}
        Io::XdpGeneric => args.extend(["--io", "xdp", "--xdp-mode", "generic"].map(String::from)),
        Io::XdpNative => args.extend(["--io", "xdp", "--xdp-mode", "native"].map(String::from)),
    }
    if a.busy_poll {
        args.push("--busy-poll".into());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let _ = std::fs::remove_file(&control);
    let child = ns_command(ns, Path::new("taskset"), &argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting ringvs in {ns}: {e}"))?;
    let mut d = Director {
        child: Some(Spawned(child)),
        control,
    };
    let start = Instant::now();
    loop {
        if std::os::unix::net::UnixStream::connect(&d.control).is_ok() {
            break;
        }
        if let Some(c) = d.child.as_mut()
            && let Ok(Some(st)) = c.0.try_wait()
        {
            return Err(format!("ringvs run in {ns} exited early ({st})"));
        }
        if start.elapsed() > DIRECTOR_READY_TIMEOUT {
            return Err(format!("ringvs in {ns}: no control socket after {start:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !dp.io_only() {
        let uvip = format!("{VIP}:{UDP_PORT}");
        let tvip = format!("{VIP}:80");
        proto::adm(&d.control, &["-A", "-u", &uvip, "-s", "rr"])?;
        proto::adm(&d.control, &["-A", "-t", &tvip, "-s", "rr"])?;
        for n in [1, 2] {
            let urip = format!("{}:{UDP_PORT}", rs_addr(n));
            let trip = format!("{}:80", rs_addr(n));
            proto::adm(&d.control, &["-a", "-u", &uvip, "-r", &urip, "-m"])?;
            proto::adm(&d.control, &["-a", "-t", &tvip, "-r", &trip, "-m"])?;
        }
    }
    Ok(d)
}

/// Run `program args` in `ns` to completion (killed after `cap`); its stdout.
fn run_capped(ns: &str, program: &str, args: &[&str], cap: Duration) -> R<String> {
    let mut child = Spawned(
        ns_command(ns, Path::new(program), args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning {program}: {e}"))?,
    );
    let mut stdout = child.0.stdout.take().ok_or("no stdout pipe")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let deadline = Instant::now() + cap;
    let status = loop {
        if let Some(st) = child.0.try_wait().map_err(s)? {
            break st;
        }
        if Instant::now() >= deadline {
            return Err(format!("{} still running after {cap:?}", args.join(" ")));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader
        .join()
        .map_err(|_| "stdout reader panicked".to_string())?
        .map_err(s)?;
    if !status.success() {
        return Err(format!(
            "`{program} {}` in {ns} exited with {status}; stdout: {}",
            args.join(" "),
            out.trim()
        ));
    }
    Ok(out)
}

/// The last line of `out` that parses as a JSON object.
fn last_json(out: &str) -> R<Value> {
    out.lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l.trim())
                .ok()
                .filter(Value::is_object)
        })
        .ok_or_else(|| format!("no JSON object in output {:?}", out.trim()))
}

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    let mut v = v;
    for k in path {
        v = v.get(*k)?;
    }
    v.as_f64()
}

/// How to drive the generator in a packet lab.
struct Gen<'a> {
    bin: String,
    ns: String,
    mac: String,
    a: &'a PerfArgs,
}

impl Gen<'_> {
    fn base(&self, mode: &str, dst: &str, flows: u64, rate: Option<u64>, secs: u64) -> Vec<String> {
        let cpu = self.a.gen_cpu.to_string();
        let rate = rate.map_or("max".to_string(), |r| r.max(1).to_string());
        [
            "-c",
            &cpu,
            &self.bin,
            mode,
            "--tx-if",
            "g0",
            "--rx-if",
            "s0",
            "--dst-mac",
            &self.mac,
            "--dst",
            dst,
            "--src-net",
            "198.18.0.0/24",
            "--flows",
        ]
        .iter()
        .map(|x| x.to_string())
        .chain([
            flows.to_string(),
            "--size".into(),
            FRAME.into(),
            "--rate".into(),
            rate,
            "--secs".into(),
            secs.to_string(),
            "--tx-core".into(),
            cpu.clone(),
            "--rx-core".into(),
            cpu.clone(),
        ])
        .collect()
    }

    /// One UDP run: the generator's JSON.
    fn udp(&self, dst: &str, flows: u64, rate: Option<u64>, secs: u64) -> R<Value> {
        let mut args = self.base("udp", dst, flows, rate, secs);
        args.extend(["--warmup-ms".into(), "200".into(), "--json".into()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_capped(&self.ns, "taskset", &argv, Duration::from_secs(secs + 30))?;
        last_json(&out)
    }

    /// One SYN per flow to `dst`; what the generator says it sent.
    fn syn(&self, dst: &str, flows: u64, rate: u64) -> R<u64> {
        let secs = (flows / rate.max(1) + 5).min(SYN_SECS);
        let mut args = self.base("syn", dst, flows, Some(rate), secs);
        args.push("--json".into());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_capped(
            &self.ns,
            "taskset",
            &argv,
            Duration::from_secs(SYN_SECS + 30),
        )?;
        if let Ok(v) = last_json(&out) {
            for k in ["sent", "count", "syns"] {
                if let Some(n) = v.get(k).and_then(Value::as_u64) {
                    return Ok(n);
                }
            }
        }
        out.split(|c: char| !c.is_ascii_digit())
            .rfind(|w| !w.is_empty())
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("no count in `ringvs-gen syn` output {:?}", out.trim()))
    }
}

/// One run's figures for one datapath, by key.
type Figures = BTreeMap<String, f64>;

fn put(f: &mut Figures, k: &str, v: Option<f64>) {
    if let Some(v) = v.filter(|v| v.is_finite()) {
        f.insert(k.to_owned(), v);
    }
}

fn flows_key(n: u64) -> String {
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
    _dir: Director,
    _lab: PacketLab,
}

fn packet_setup<'a>(exe: &Path, a: &'a PerfArgs, dp: Datapath) -> R<PacketSetup<'a>> {
    let tag = Lab::unique_tag();
    let lab = PacketLab::build(&tag, a)?;
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
        _dir: dir,
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
fn packet_tests(exe: &Path, a: &PerfArgs, dp: Datapath, f: &mut Figures) -> R<()> {
    let p = packet_setup(exe, a, dp)?;
    let mut peak_1k = None;
    for &flows in &a.flows {
        let (rx, v) = highest_carried(&p, dp, flows)?;
        let key = flows_key(flows);
        put(f, &key, Some(rx));
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

/// The highest rate `dp` forwards with at most [`LOSS_TOLERANCE`] loss over
/// `flows` flows (RFC 2544 throughput, binary search between 0 and what the
/// generator offers at `--rate max`), and the run at `--rate max` itself.
fn highest_carried(p: &PacketSetup, dp: Datapath, flows: u64) -> R<(f64, Value)> {
    let secs = p.g.a.secs;
    let max = p.g.udp(&p.dst, flows, None, secs)?;
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
        return Ok((rx, max));
    }
    let trial_secs = secs.div_ceil(2).max(1);
    let (mut lo, mut hi, mut best) = (0.0f64, tx, 0.0f64);
    for _ in 0..SEARCH_STEPS {
        let mid = (lo + hi) / 2.0;
        let v = p.g.udp(&p.dst, flows, Some(mid as u64), trial_secs)?;
        let l = num(&v, &["loss"]).unwrap_or(1.0);
        let got = num(&v, &["rx_pps"]).unwrap_or(0.0);
        if l <= LOSS_TOLERANCE {
            lo = mid;
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
    Ok((best, max))
}

/// Latency at the common offered load (the same for every datapath).
fn common_latency(exe: &Path, a: &PerfArgs, dp: Datapath, rate: u64, f: &mut Figures) -> R<()> {
    let p = packet_setup(exe, a, dp)?;
    latency_at(&p, dp, rate, "_common", f)
}

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
/// old value back on drop.
struct ConntrackMax(Option<String>);

const CT_MAX: &str = "/proc/sys/net/netfilter/nf_conntrack_max";

impl ConntrackMax {
    fn raise(to: u64) -> Self {
        let old = std::fs::read_to_string(CT_MAX).ok();
        if let Some(o) = &old
            && o.trim().parse::<u64>().is_ok_and(|o| o < to)
        {
            if let Err(e) = std::fs::write(CT_MAX, to.to_string()) {
                eprintln!("{ME}: could not raise {CT_MAX}: {e}");
                return Self(None);
            }
            return Self(old);
        }
        Self(None)
    }
}

impl Drop for ConntrackMax {
    fn drop(&mut self) {
        if let Some(o) = self.0.take() {
            let _ = std::fs::write(CT_MAX, o.trim());
        }
    }
}

/// Fill the director's connection table with `a.conns` connections (one SYN
/// each, up to [`SYN_PASSES`] passes) and record its memory.
fn memory_test(exe: &Path, a: &PerfArgs, dp: Datapath, f: &mut Figures) -> R<()> {
    if a.conns == 0 {
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
    let lab = PacketLab::build(&tag, a)?;
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

/// TCP connections per second through the director, in the namespace [`Lab`].
fn cps_test(exe: &Path, a: &PerfArgs, dp: Datapath, f: &mut Figures) -> R<()> {
    if a.no_cps {
        return Ok(());
    }
    let tag = Lab::unique_tag();
    // Complete checksums from the client and the servers: --io-only forwards
    // frames as they are and would pass partial ones on unfinished.
    let opts = LabOptions {
        client_tx_csum: false,
        rs_tx_csum: false,
        ..LabOptions::default()
    };
    let mut lab = Lab::build_with(&tag, opts).map_err(s)?;
    let gcpu = a.gen_cpu.to_string();
    let (cli, dns, sw) = (lab.ns_client(), lab.ns_director(), lab.ns_switch());
    for n in 1..=lab.n_real_servers() {
        let ns = lab.ns_rs(n);
        let body = format!("i am rs{n}");
        let exe_s = exe.display().to_string();
        let args = [
            "-c",
            &gcpu,
            &exe_s,
            "serve-http",
            "--listen",
            "0.0.0.0:80",
            "--body",
            &body,
            "--max-secs",
            "300",
        ];
        lab.spawn_in(&ns, Path::new("taskset"), &args).map_err(s)?;
        rps(&ns, "eth0", a.gen_cpu)?;
        rps(&sw, &format!("rs{n}"), a.gen_cpu)?;
    }
    rps(&sw, "d0", a.gen_cpu)?;
    rps(&cli, "c0", a.gen_cpu)?;
    rps(&dns, "ext0", a.dir_cpu)?;
    rps(&dns, "int0", a.dir_cpu)?;
    sysctl(&cli, "net.ipv4.ip_local_port_range=1024 65535")?;
    sysctl(&cli, "net.ipv4.tcp_tw_reuse=1")?;
    if dp.io_only() {
        // No VIP: the client reaches the real servers through the director.
        let via = EXT_ADDR_CIDR.split('/').next().unwrap_or_default();
        ip(&["-n", &cli, "route", "add", "198.19.0.0/24", "via", via]).map_err(s)?;
    }
    let start = Instant::now();
    for n in 1..=lab.n_real_servers() {
        while !listens_on(&lab.ns_rs(n), 80).map_err(s)? {
            if start.elapsed() > HTTP_READY_TIMEOUT {
                return Err(format!("serve-http in {} not listening", lab.ns_rs(n)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _dir = start_datapath(exe, &dns, &tag, dp, a, None)?;
    let dst = dp.tcp_dst();
    let genb = a.generator.display().to_string();
    let threads = a.cps_threads.to_string();
    let secs = a.secs.to_string();
    // Warm-up: ARP everywhere.
    let _ = run_capped(
        &cli,
        "taskset",
        &[
            "-c",
            &gcpu,
            &genb,
            "tcp-cps",
            "--dst",
            &dst,
            "--threads",
            "1",
            "--secs",
            "1",
            "--json",
        ],
        Duration::from_secs(30),
    );
    let out = run_capped(
        &cli,
        "taskset",
        &[
            "-c",
            &gcpu,
            &genb,
            "tcp-cps",
            "--dst",
            &dst,
            "--threads",
            &threads,
            "--secs",
            &secs,
            "--json",
        ],
        Duration::from_secs(a.secs + 30),
    )?;
    let v = last_json(&out)?;
    put(f, "cps", num(&v, &["cps"]));
    put(
        f,
        "cps_failed",
        num(&v, &["failures"]).or(num(&v, &["failed"])),
    );
    eprintln!(
        "#   {:<16} cps {:.0} (failed {})",
        dp.name(),
        num(&v, &["cps"]).unwrap_or(-1.0),
        num(&v, &["failures"])
            .or(num(&v, &["failed"]))
            .unwrap_or(-1.0)
    );
    Ok(())
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// All runs: `runs[r][datapath name]`.
type Runs = Vec<BTreeMap<String, Figures>>;

fn medians(runs: &Runs, dp: &str) -> Figures {
    let mut keys: Vec<&String> = runs
        .iter()
        .filter_map(|r| r.get(dp))
        .flat_map(|f| f.keys())
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.get(dp)?.get(k).copied())
                .collect();
            Some((k.clone(), median(v)?))
        })
        .collect()
}

/// Median over runs of `a.key / b.key`, taken within each run.
fn paired_ratio(runs: &Runs, a: &str, b: &str, key: &str) -> Option<f64> {
    let v: Vec<f64> = runs
        .iter()
        .filter_map(|r| {
            let (x, y) = (r.get(a)?.get(key)?, r.get(b)?.get(key)?);
            (*y > 0.0).then(|| x / y)
        })
        .collect();
    median(v)
}

/// The ringvs NAT datapaths and the I/O-only datapath of the same I/O backend.
const NAT_PAIRS: [(&str, &str); 2] = [
    ("ringvs-nat-1w", "ringvs-io-only"),
    ("ringvs-xdp-1w", "ringvs-xdp-io-only"),
];

struct Goal {
    name: &'static str,
    /// The datapath in the denominator; `None`: the NAT pair's I/O-only datapath.
    b: Option<&'static str>,
    key: &'static str,
    /// Goal is `a/b >= target` (or `<=` when `at_most`).
    target: f64,
    at_most: bool,
}

const GOALS: [Goal; 3] = [
    Goal {
        name: "NAT >= 0.9 x I/O-only pps (64 B, 1k flows)",
        b: None,
        key: "pps_64b_1k_flows",
        target: 0.9,
        at_most: false,
    },
    Goal {
        name: "NAT >= 1.5 x kernel nftables NAT pps (64 B, 1k flows, same CPU)",
        b: Some("kernel-nft"),
        key: "pps_64b_1k_flows",
        target: 1.5,
        at_most: false,
    },
    Goal {
        name: "p99 <= kernel p99 at the same offered load",
        b: Some("kernel-nft"),
        key: "p99_us_common",
        target: 1.0,
        at_most: true,
    },
];

/// Every goal for every ringvs NAT datapath that was measured (AF_PACKET first).
fn goals(runs: &Runs) -> Vec<Value> {
    let measured = |n: &str| runs.iter().any(|r| r.contains_key(n));
    NAT_PAIRS
        .iter()
        .filter(|(a, _)| *a == "ringvs-nat-1w" || measured(a))
        .flat_map(|&(a, io)| GOALS.iter().map(move |g| (a, g.b.unwrap_or(io), g)))
        .map(|(a, b, g)| {
            let r = paired_ratio(runs, a, b, g.key);
            let met = r.map(|r| {
                if g.at_most {
                    r <= g.target
                } else {
                    r >= g.target
                }
            });
            // How far off, as a fraction of the target (positive = missed by).
            let short = r.map(|r| {
                if g.at_most {
                    r / g.target - 1.0
                } else {
                    1.0 - r / g.target
                }
            });
            json!({
                "goal": format!("{a}: {}", g.name),
                "ratio": format!("{a} / {b} {}", g.key),
                "measured": r.map(|r| (r * 1000.0).round() / 1000.0),
                "target": g.target,
                "met": met,
                "missed_by_pct": match (met, short) {
                    (Some(false), Some(sh)) => json!((sh * 1000.0).round() / 10.0),
                    _ => Value::Null,
                },
            })
        })
        .collect()
}

fn kpps(v: Option<&f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}", v / 1000.0))
}
fn int(v: Option<&f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0}"))
}
fn one(v: Option<&f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

fn table(names: &[String], med: &BTreeMap<String, Figures>, flows: &[u64]) -> String {
    let mut t = String::new();
    let _ = write!(t, "{:<16}", "datapath");
    for &n in flows {
        let _ = write!(t, " {:>10}", format!("kpps/{}", short_n(n)));
    }
    let _ = writeln!(
        t,
        " {:>6} {:>6} {:>7} {:>9} {:>8} {:>8} {:>7} {:>8} {:>8}",
        "p50", "p99", "p99.9", "@kpps", "p99=", "p99.9=", "cps", "MB@1M", "conns"
    );
    for n in names {
        let Some(f) = med.get(n) else { continue };
        let _ = write!(t, "{n:<16}");
        for &fl in flows {
            let _ = write!(t, " {:>10}", kpps(f.get(&flows_key(fl))));
        }
        let _ = writeln!(
            t,
            " {:>6} {:>6} {:>7} {:>9} {:>8} {:>8} {:>7} {:>8} {:>8}",
            int(f.get("p50_us")),
            int(f.get("p99_us")),
            int(f.get("p999_us")),
            kpps(f.get("lat_rate_pps")),
            int(f.get("p99_us_common")),
            int(f.get("p999_us_common")),
            int(f.get("cps")),
            one(f.get("rss_mb_1m_conns")),
            int(f.get("conns_tracked")),
        );
    }
    t
}

fn short_n(n: u64) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// A chart: title, (figure key, legend label) per bar of a group, divisor.
type Panel = (String, Vec<(String, String)>, f64);

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Two bar charts: packet rate per flow count, and latency percentiles at the
/// common offered load, one group per datapath.
pub fn svg(
    names: &[String],
    med: &BTreeMap<String, Figures>,
    flows: &[u64],
    common: f64,
) -> String {
    const W: f64 = 900.0;
    const PH: f64 = 300.0;
    const COLORS: [&str; 4] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"];
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{}" font-family="sans-serif" font-size="12">"#,
        2.0 * PH + 120.0
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let panels: [Panel; 2] = [
        (
            "Forwarded packets per second, 64-byte frames (kpps, median)".into(),
            flows
                .iter()
                .map(|&n| (flows_key(n), format!("{} flows", short_n(n))))
                .collect(),
            1000.0,
        ),
        (
            format!(
                "Latency at the same offered load, {:.0} kpps, 1k flows (µs, median)",
                common / 1000.0
            ),
            vec![
                ("p50_us_common".into(), "p50".into()),
                ("p99_us_common".into(), "p99".into()),
                ("p999_us_common".into(), "p99.9".into()),
            ],
            1.0,
        ),
    ];
    for (pi, (title, series, div)) in panels.iter().enumerate() {
        let top = 30.0 + pi as f64 * (PH + 60.0);
        let (left, plot_w, plot_h) = (60.0, W - 80.0, PH - 60.0);
        let base = top + 30.0 + plot_h;
        let max = names
            .iter()
            .filter_map(|n| med.get(n))
            .flat_map(|f| series.iter().filter_map(|(k, _)| f.get(k)))
            .fold(0.0f64, |m, v| m.max(v / div));
        let max = if max > 0.0 { max * 1.1 } else { 1.0 };
        let _ = writeln!(
            o,
            r#"<text x="{left}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
            top + 15.0,
            esc(title)
        );
        let _ = writeln!(
            o,
            r#"<line x1="{left}" y1="{base}" x2="{}" y2="{base}" stroke="black"/>"#,
            left + plot_w
        );
        for i in 0..=4 {
            let v = max * i as f64 / 4.0;
            let y = base - plot_h * i as f64 / 4.0;
            let _ = writeln!(
                o,
                r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.0}</text>"##,
                left + plot_w,
                left - 5.0,
                y + 4.0
            );
        }
        let group_w = plot_w / names.len().max(1) as f64;
        let bar_w = (group_w - 20.0) / series.len().max(1) as f64;
        for (gi, n) in names.iter().enumerate() {
            let gx = left + gi as f64 * group_w + 10.0;
            let f = med.get(n);
            for (si, (k, _)) in series.iter().enumerate() {
                let Some(v) = f.and_then(|f| f.get(k)).map(|v| v / div) else {
                    continue;
                };
                let h = plot_h * v / max;
                let x = gx + si as f64 * bar_w;
                let _ = writeln!(
                    o,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{v:.0}</text>"#,
                    base - h,
                    bar_w - 2.0,
                    COLORS[si % COLORS.len()],
                    x + bar_w / 2.0 - 1.0,
                    base - h - 3.0
                );
            }
            let _ = writeln!(
                o,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                gx + (group_w - 20.0) / 2.0,
                base + 16.0,
                esc(n)
            );
        }
        for (si, (_, label)) in series.iter().enumerate() {
            let x = left + plot_w - 110.0;
            let y = top + 30.0 + si as f64 * 16.0;
            let _ = writeln!(
                o,
                r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{y}">{}</text>"#,
                y - 9.0,
                COLORS[si % COLORS.len()],
                x + 14.0,
                esc(label)
            );
        }
    }
    o.push_str("</svg>\n");
    o
}

fn host_facts() -> Value {
    let cmd = |p: &str, a: &[&str]| {
        std::process::Command::new(p)
            .args(a)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
    });
    json!({
        "date": cmd("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        "kernel": cmd("uname", &["-r"]),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu_model": model,
        "commit": cmd("git", &["rev-parse", "--short", "HEAD"]),
    })
}

/// The whole benchmark; returns the report.
pub fn perf_bench(a: &PerfArgs) -> R<Value> {
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
    for (what, bin) in [("ringvs", &a.ringvs), ("traffic generator", &a.generator)] {
        if !bin.is_file() {
            return Err(format!(
                "no {what} at {} (build both: cargo build --release --workspace --bins)",
                bin.display()
            ));
        }
    }
    let exe = a.ringvs.as_path();
    let dps = a
        .datapaths
        .iter()
        .map(|d| Datapath::parse(d))
        .collect::<R<Vec<_>>>()?;
    let names: Vec<String> = dps.iter().map(|d| d.name()).collect();
    let started = Instant::now();
    let mut runs: Runs = Vec::new();
    let mut errors = Vec::new();
    let mut common = None;
    for r in 0..a.runs {
        let mut order = dps.clone();
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
            this.insert(dp.name(), f);
        }
        // The same offered load for all: half the lowest 1k-flow peak of the
        // first run (every datapath can carry it).
        if common.is_none() {
            common = this
                .values()
                .filter_map(|f| f.get("peak_pps"))
                .copied()
                .reduce(f64::min)
                .map(|p| (p / 2.0) as u64);
        }
        if let Some(rate) = common {
            for dp in &dps {
                let f = this.entry(dp.name()).or_default();
                if let Err(e) = common_latency(exe, a, *dp, rate, f) {
                    eprintln!("{ME}: {} latency at {rate} pps: {e}", dp.name());
                    errors.push(format!("run {}: {} common latency: {e}", r + 1, dp.name()));
                }
            }
        }
        runs.push(this);
    }
    let med: BTreeMap<String, Figures> = names
        .iter()
        .map(|n| (n.clone(), medians(&runs, n)))
        .collect();
    let common_rate = common.unwrap_or(0) as f64;
    let contended = ncpu < 3;
    let datapaths: Vec<Value> = names
        .iter()
        .map(|n| {
            let mut o = serde_json::Map::new();
            o.insert("name".into(), json!(n));
            let two = n == "ringvs-nat-2w";
            o.insert("contended".into(), json!(two && contended));
            for (k, v) in med.get(n).into_iter().flatten() {
                o.insert(k.clone(), json!((v * 100.0).round() / 100.0));
            }
            o.insert(
                "runs".into(),
                json!(runs.iter().map(|r| r.get(n)).collect::<Vec<_>>()),
            );
            Value::Object(o)
        })
        .collect();
    let ratios: Vec<Value> = NAT_PAIRS
        .iter()
        .flat_map(|&(a, io)| [(a, io), (a, "kernel-nft")])
        .flat_map(|(a, b)| {
            [
                "pps_64b_1_flow",
                "pps_64b_1k_flows",
                "pps_64b_100k_flows",
                "p99_us_common",
                "cps",
            ]
            .iter()
            .filter_map(|k| {
                paired_ratio(&runs, a, b, k).map(|r| {
                    json!({"a": a, "b": b, "key": k,
                           "ratio": (r * 1000.0).round() / 1000.0})
                })
            })
            .collect::<Vec<_>>()
        })
        .collect();
    let report = json!({
        "host": host_facts(),
        "method": {
            "runs": a.runs,
            "secs": a.secs,
            "flows": a.flows,
            "frame_bytes": 64,
            "director_cpu": a.dir_cpu,
            "generator_cpu": a.gen_cpu,
            "common_rate_pps": common_rate,
            "latency_flows": 1000,
            "conns": a.conns,
            "cps_threads": a.cps_threads,
            "ringvs_busy_poll": a.busy_poll,
            "elapsed_s": started.elapsed().as_secs(),
        },
        "datapaths": datapaths,
        "ratios": ratios,
        "goals": goals(&runs),
        "errors": errors,
    });
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let jpath = a.out.join("report.json");
    let text = serde_json::to_string_pretty(&report).map_err(s)?;
    std::fs::write(&jpath, text + "\n").map_err(|e| format!("{}: {e}", jpath.display()))?;
    let spath = a.out.join("report.svg");
    std::fs::write(&spath, svg(&names, &med, &a.flows, common_rate))
        .map_err(|e| format!("{}: {e}", spath.display()))?;

    println!(
        "{ME}: {} run(s) of {} s, 64-byte frames, director on CPU {}, generator on CPU {}, \
         kernel {}, {:.0} s",
        a.runs,
        a.secs,
        a.dir_cpu,
        a.gen_cpu,
        report["host"]["kernel"].as_str().unwrap_or("?"),
        started.elapsed().as_secs_f64()
    );
    println!(
        "medians over runs; p50/p99/p99.9 in µs at half each datapath's own 1k-flow peak (@kpps); \
         p99=/p99.9= at the same load for all ({:.1} kpps); MB@1M: ringvs VmRSS, kernel slab growth",
        common_rate / 1000.0
    );
    println!();
    print!("{}", table(&names, &med, &a.flows));
    if contended && names.iter().any(|n| n == "ringvs-nat-2w") {
        println!(
            "(ringvs-nat-2w: contended: {ncpu} CPUs, the second worker shares the generator's CPU)"
        );
    }
    println!();
    for r in &ratios {
        println!(
            "ratio {:>13} / {:<18} {:<20} {:>7.3}",
            r["a"].as_str().unwrap_or(""),
            r["b"].as_str().unwrap_or(""),
            r["key"].as_str().unwrap_or(""),
            r["ratio"].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!();
    for g in report["goals"].as_array().into_iter().flatten() {
        let verdict = match (g["met"].as_bool(), g["missed_by_pct"].as_f64()) {
            (Some(true), _) => "met".to_string(),
            (Some(false), Some(p)) => format!("MISSED by {p:.1} %"),
            _ => "not measured".to_string(),
        };
        println!(
            "goal: {:<80} measured {:>7} -> {verdict}",
            g["goal"].as_str().unwrap_or(""),
            g["measured"]
                .as_f64()
                .map_or("-".into(), |m| format!("{m:.3}"))
        );
    }
    for e in &errors {
        println!("error: {e}");
    }
    println!();
    println!("report: {}  plot: {}", jpath.display(), spath.display());
    Ok(report)
}

/// `ringvs-bench perf`: 0 when every figure was measured, 3 when the report
/// lists errors, 1 when there is no report.
pub fn main(a: PerfArgs) -> ExitCode {
    match perf_bench(&a) {
        Ok(rep) if rep["errors"].as_array().is_some_and(Vec::is_empty) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(3),
        Err(e) => {
            eprintln!("{ME}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests {
    use super::*;

    fn run(pairs: &[(&str, &str, f64)]) -> BTreeMap<String, Figures> {
        let mut m: BTreeMap<String, Figures> = BTreeMap::new();
        for (dp, k, v) in pairs {
            m.entry(dp.to_string())
                .or_default()
                .insert(k.to_string(), *v);
        }
        m
    }

    #[test]
    fn medians_and_paired_ratios() {
        let k = "pps_64b_1k_flows";
        let runs = vec![
            run(&[("ringvs-nat-1w", k, 100.0), ("kernel-nft", k, 50.0)]),
            run(&[("ringvs-nat-1w", k, 300.0), ("kernel-nft", k, 100.0)]),
            run(&[("ringvs-nat-1w", k, 200.0), ("kernel-nft", k, 200.0)]),
        ];
        assert_eq!(medians(&runs, "ringvs-nat-1w")[k], 200.0);
        // Pair by pair: 2, 3, 1 -> 2 (not 200 / 100).
        assert_eq!(
            paired_ratio(&runs, "ringvs-nat-1w", "kernel-nft", k),
            Some(2.0)
        );
        let g = goals(&runs);
        assert_eq!(g[1]["met"], json!(true));
        assert_eq!(g[0]["met"], Value::Null);
        assert_eq!(median(vec![1.0, 4.0]), Some(2.5));
    }

    #[test]
    fn missed_goal_says_by_how_much() {
        let k = "p99_us_common";
        let runs = vec![run(&[
            ("ringvs-nat-1w", k, 150.0),
            ("kernel-nft", k, 100.0),
        ])];
        let g = goals(&runs);
        assert_eq!(g[2]["met"], json!(false));
        assert_eq!(g[2]["missed_by_pct"], json!(50.0));
    }

    #[test]
    fn datapath_names_round_trip_and_svg_renders() {
        for (n, _) in DATAPATHS {
            assert_eq!(Datapath::parse(n).unwrap().name(), n);
        }
        assert!(Datapath::parse("x").is_err());
        assert_eq!(flows_key(1), "pps_64b_1_flow");
        assert_eq!(flows_key(100_000), "pps_64b_100k_flows");
        let names = vec!["kernel-nft".to_string()];
        let med = run(&[("kernel-nft", "pps_64b_1k_flows", 1000.0)]);
        let svg = svg(&names, &med, &[1000], 500.0);
        assert!(svg.starts_with("<svg") && svg.contains("kernel-nft"));
        assert_eq!(mask(1), "2");
    }
}
