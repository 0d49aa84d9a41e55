//! Setting up the datapaths under test: the packet lab's two namespaces
//! ([`PacketLab`]), the director's CPU steering, and each datapath started in a
//! director namespace with its services ([`start_datapath`], [`Director`]).

use super::options::{Datapath, Io, PerfArgs};
use super::{ME, R, UDP_PORT, s};
use ringvs::lab::{
    DIRECTOR_READY_TIMEOUT, EXT_ADDR_CIDR, EXT_ADDR6_CIDR, INT_ADDR_CIDR, INT_ADDR6_CIDR,
    PREFIX6_LEN, Spawned, VIP, VIP6, add_addr6, enable_quiet_ipv6, ip, kill_and_delete_ns,
    ns_command, ns_run, rs_addr, rs_addr6,
};
use ringvs::proto;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn mask(cpu: usize) -> String {
    format!("{:x}", 1u128 << cpu)
}

/// Steer the receive work of `ifname` in `ns` to `cpu` (RPS on every RX queue).
pub(super) fn rps(ns: &str, ifname: &str, cpu: usize) -> R<()> {
    let cmd = format!(
        "for q in /sys/class/net/{ifname}/queues/rx-*; do echo {} > $q/rps_cpus; done",
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

pub(super) fn sysctl(ns: &str, kv: &str) -> R<()> {
    ns_run(ns, "sysctl", &["-qw", kv]).map(drop).map_err(s)
}

/// Namespaces made for a packet test; deleted (with their processes) on drop.
pub(super) struct PacketLab {
    tag: String,
    namespaces: Vec<String>,
    pub(super) ext_mac: String,
}

impl PacketLab {
    pub(super) fn gen_ns(&self) -> String {
        format!("rv{}-pg", self.tag)
    }
    pub(super) fn dir_ns(&self) -> String {
        format!("rv{}-pd", self.tag)
    }

    /// The lab for datapath `dp` (its veths get [`Datapath::queues`] queues).
    pub(super) fn build(tag: &str, a: &PerfArgs, dp: Datapath) -> R<Self> {
        let mut l = PacketLab {
            tag: tag.to_owned(),
            namespaces: Vec::new(),
            ext_mac: String::new(),
        };
        l.populate(a, dp.queues(), dp.ipv6())?; // on error `l` drops and deletes what was made
        Ok(l)
    }

    fn populate(&mut self, a: &PerfArgs, queues: usize, v6: bool) -> R<()> {
        let (g, d) = (self.gen_ns(), self.dir_ns());
        for ns in [&g, &d] {
            ip(&["netns", "add", ns]).map_err(s)?;
            self.namespaces.push(ns.clone());
            for key in ["all", "default"] {
                sysctl(ns, &format!("net.ipv6.conf.{key}.disable_ipv6=1"))?;
            }
            ip(&["-n", ns, "link", "set", "lo", "up"]).map_err(s)?;
        }
        let q = queues.to_string();
        for (ours, peer) in [("ext0", "g0"), ("int0", "s0")] {
            ip(&[
                "-n",
                &d,
                "link",
                "add",
                ours,
                "numrxqueues",
                &q,
                "numtxqueues",
                &q,
                "type",
                "veth",
                "peer",
                "name",
                peer,
                "numrxqueues",
                &q,
                "numtxqueues",
                &q,
                "netns",
                &g,
            ])
            .map_err(s)?;
        }
        for (ns, ifname) in [(&d, "ext0"), (&d, "int0"), (&g, "g0"), (&g, "s0")] {
            offloads(ns, ifname)?;
        }
        ip(&["-n", &g, "addr", "add", "198.18.0.1/24", "dev", "g0"]).map_err(s)?;
        for n in [1, 2] {
            let cidr = format!("{}/24", rs_addr(n));
            ip(&["-n", &g, "addr", "add", &cidr, "dev", "s0"]).map_err(s)?;
        }
        if v6 {
            // Dual stack: s0 also has the real servers' IPv6 addresses (quiet
            // IPv6, no DAD), so it answers the director's neighbor
            // solicitations for them.
            for n in [1, 2] {
                let cidr = format!("{}/{PREFIX6_LEN}", rs_addr6(n));
                add_addr6(&g, "s0", &cidr).map_err(s)?;
            }
        }
        for (ns, ifname) in [(&d, "ext0"), (&d, "int0"), (&g, "g0"), (&g, "s0")] {
            ip(&["-n", ns, "link", "set", ifname, "up"]).map_err(s)?;
        }
        // The sink: IPv4 arriving on s0 is dropped at netdev ingress, after the
        // generator's AF_PACKET RX ring has seen it. ARP still passes; so does
        // ICMPv6 (neighbor discovery) in a dual-stack lab, where IPv6 UDP and
        // TCP are dropped too.
        let v6_rule = if v6 {
            "    ip6 nexthdr { udp, tcp } drop\n"
        } else {
            ""
        };
        nft(
            &g,
            &self.tag,
            &format!(
                "table netdev rvsink {{\n  chain in {{\n    type filter hook ingress device s0 priority 0; policy accept;\n    meta protocol ip drop\n{v6_rule}  }}\n}}\n"
            ),
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
pub(super) struct Director {
    child: Option<Spawned>,
    pub(super) control: PathBuf,
}

impl Director {
    pub(super) fn pid(&self) -> Option<u32> {
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
pub(super) fn start_datapath(
    exe: &Path,
    ns: &str,
    tag: &str,
    dp: Datapath,
    a: &PerfArgs,
    max_conns: Option<u64>,
) -> R<Director> {
    let control = PathBuf::from(format!("/run/ringvs-perf-{tag}.sock"));
    if dp.kernel() {
        if dp.ipv6() {
            kernel_nat6(ns, tag)?;
        } else {
            kernel_nat(ns, tag)?;
        }
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
    let args = ringvs_args(exe, &control, dp, a, max_conns);
    let d = spawn_ringvs(ns, &args, control)?;
    if dp.io().threads_napi() {
        // ringvs attached its program, so veth's NAPI instances exist now.
        let fifo = napi_fifo(a, dp);
        for ifname in ["ext0", "int0"] {
            thread_napi(ns, ifname, a.dir_cpu, fifo)?;
            if dp.io() == Io::XdpBusy {
                let cmd = format!(
                    "echo 2 > /sys/class/net/{ifname}/napi_defer_hard_irqs && \
                     echo 200000 > /sys/class/net/{ifname}/gro_flush_timeout"
                );
                ns_run(ns, "sh", &["-c", &cmd]).map_err(s)?;
            }
        }
    }
    if dp.ipv6() {
        add_services6(&d.control)?;
    } else if !dp.io_only() {
        add_services(&d.control)?;
    }
    Ok(d)
}

/// The kthreads named `napi/{ifname}-…`, by pid.
fn napi_threads(ifname: &str) -> Vec<u32> {
    let prefix = format!("napi/{ifname}-");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        comm.trim_end().starts_with(&prefix).then_some(pid)
    })
    .collect()
}

/// Make `ifname`'s NAPI instances in `ns` threaded and pin their kthreads to
/// `cpu`, under `SCHED_FIFO` at priority `fifo` if given. The kthreads are
/// named after the device only, so ours are the ones that appear when
/// `threaded` is switched on.
fn thread_napi(ns: &str, ifname: &str, cpu: usize, fifo: Option<u8>) -> R<()> {
    let before = napi_threads(ifname);
    let cmd = format!("echo 1 > /sys/class/net/{ifname}/threaded");
    ns_run(ns, "sh", &["-c", &cmd]).map_err(s)?;
    let ours: Vec<u32> = napi_threads(ifname)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    if ours.is_empty() {
        return Err(format!("no napi/{ifname}-* kthread appeared in {ns}"));
    }
    for pid in ours {
        let st = std::process::Command::new("taskset")
            .args(["-p", "-c", &cpu.to_string(), &pid.to_string()])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("taskset: {e}"))?;
        if !st.success() {
            return Err(format!("taskset -p -c {cpu} {pid}: {st}"));
        }
        if let Some(prio) = fifo {
            let (prio, pid) = (prio.to_string(), pid.to_string());
            let st = std::process::Command::new("chrt")
                .args(["-f", "-p", &prio, &pid])
                .status()
                .map_err(|e| format!("chrt: {e}"))?;
            if !st.success() {
                return Err(format!("chrt -f -p {prio} {pid}: {st}"));
            }
        }
    }
    Ok(())
}

/// The kernel's NAT in `ns`: addresses, forwarding without reverse-path
/// filtering, and nftables DNAT of both services to the real servers.
fn kernel_nat(ns: &str, tag: &str) -> R<()> {
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
    nft(ns, tag, &ruleset)
}

/// The kernel's IPv6 NAT in `ns`: quiet IPv6 on, the VIP6 on `ext0` and the
/// DIP6 on `int0` (no DAD), IPv6 forwarding, and nftables `ip6` DNAT of UDP
/// [VIP6]:9000 and TCP [VIP6]:80 to the IPv6 real servers (the same
/// `numgen inc` round robin as [`kernel_nat`]).
fn kernel_nat6(ns: &str, tag: &str) -> R<()> {
    for key in ["ext0", "int0", "default", "all"] {
        enable_quiet_ipv6(ns, key).map_err(s)?;
    }
    let vip6 = format!("{VIP6}/{PREFIX6_LEN}");
    #[rustfmt::skip]
    let adds = [("ext0", vip6.as_str()), ("int0", INT_ADDR6_CIDR)];
    for (ifname, cidr) in adds {
        ip(&["-n", ns, "-6", "addr", "add", cidr, "dev", ifname, "nodad"]).map_err(s)?;
    }
    sysctl(ns, "net.ipv6.conf.all.forwarding=1")?;
    let map = format!("{{ 0 : {}, 1 : {} }}", rs_addr6(1), rs_addr6(2));
    let ruleset = format!(
        "table ip6 rvnat6 {{\n  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    \
         ip6 daddr {VIP6} udp dport {UDP_PORT} dnat to numgen inc mod 2 map {map}\n    \
         ip6 daddr {VIP6} tcp dport 80 dnat to numgen inc mod 2 map {map}\n  }}\n}}\n"
    );
    nft(ns, tag, &ruleset)
}

/// `--cpus` for `workers` ringvs workers: the director's CPU first; the others
/// share the generator's (contended, see the module docs).
fn worker_cpus(a: &PerfArgs, workers: usize) -> String {
    if workers == 1 {
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
    }
}

/// `taskset`'s arguments to run ringvs as datapath `dp` with control socket
/// `control` (and `--max-conns` per worker when given).
fn ringvs_args(
    exe: &Path,
    control: &Path,
    dp: Datapath,
    a: &PerfArgs,
    max_conns: Option<u64>,
) -> Vec<String> {
    let workers = dp.workers();
    let cpus = worker_cpus(a, workers);
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
    if dp.ipv6() {
        // Dual stack, as the lab's director (`ringvs run --ext-addr … --ext-addr
        // 2001:2:0:1::2/64 …`); its namespace keeps kernel IPv6 off, so only
        // ringvs answers neighbor solicitations.
        for (opt, cidr) in [
            ("--ext-addr", EXT_ADDR6_CIDR),
            ("--int-addr", INT_ADDR6_CIDR),
        ] {
            args.extend([opt.to_owned(), cidr.to_owned()]);
        }
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
        // Every other one is native XDP.
        io => {
            args.extend(["--io", "xdp", "--xdp-mode", "native"].map(String::from));
            if io == Io::XdpNapiOwnUmems {
                args.extend(["--umem", "per-worker"].map(String::from));
            }
        }
    }
    if let Some(p) = worker_fifo(a, dp) {
        args.extend(["--rt-priority".into(), p.to_string()]);
    } else if spins(a, dp) {
        args.push("--busy-poll".into());
    }
    args
}

/// Whether `dp`'s workers spin when idle (`ringvs run --busy-poll`): with
/// `--busy-poll`, or as `ringvs-xdp-busy-*` and `ringvs-xdp-napi-spin-1w`,
/// unless they run under SCHED_FIFO (which excludes it). Such a datapath
/// keeps the director CPU busy whatever it forwards.
pub(super) fn spins(a: &PerfArgs, dp: Datapath) -> bool {
    !dp.kernel()
        && worker_fifo(a, dp).is_none()
        && (a.busy_poll || matches!(dp.io(), Io::XdpBusy | Io::XdpNapiSpin))
}

/// The `SCHED_FIFO` priority of `dp`'s threaded NAPI kthreads, if they run
/// under it: one above the worker's (`napi-first`; `napi-spin`, whose worker
/// is not real-time, at 1), or the worker's own (`napi-even`).
fn napi_fifo(a: &PerfArgs, dp: Datapath) -> Option<u8> {
    match dp.io() {
        Io::XdpNapiFirst | Io::XdpNapiSpin => {
            Some(worker_fifo(a, dp).unwrap_or(0).saturating_add(1))
        }
        Io::XdpNapiEven => Some(worker_fifo(a, dp).unwrap_or(1)),
        _ => None,
    }
}

/// The `SCHED_FIFO` priority of `dp`'s workers, if they run under it: the
/// real-time datapaths at 10, any at `--worker-fifo`.
fn worker_fifo(a: &PerfArgs, dp: Datapath) -> Option<u8> {
    a.worker_fifo.or(dp.rt().then_some(10))
}

/// Run `taskset args` (ringvs) in `ns` and wait for its control socket.
fn spawn_ringvs(ns: &str, args: &[String], control: PathBuf) -> R<Director> {
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
    Ok(d)
}

/// The IPv6 twins of [`add_services`]: UDP [VIP6]:9000 and TCP [VIP6]:80,
/// round robin over the two IPv6 real servers (masquerading).
fn add_services6(control: &Path) -> R<()> {
    let uvip = format!("[{VIP6}]:{UDP_PORT}");
    let tvip = format!("[{VIP6}]:80");
    proto::adm(control, &["-A", "-u", &uvip, "-s", "rr"])?;
    proto::adm(control, &["-A", "-t", &tvip, "-s", "rr"])?;
    for n in [1, 2] {
        let urip = format!("[{}]:{UDP_PORT}", rs_addr6(n));
        let trip = format!("[{}]:80", rs_addr6(n));
        proto::adm(control, &["-a", "-u", &uvip, "-r", &urip, "-m"])?;
        proto::adm(control, &["-a", "-t", &tvip, "-r", &trip, "-m"])?;
    }
    Ok(())
}

/// The benchmark's services on a running ringvs: UDP VIP:9000 and TCP VIP:80,
/// round robin over the two real servers (masquerading).
fn add_services(control: &Path) -> R<()> {
    let uvip = format!("{VIP}:{UDP_PORT}");
    let tvip = format!("{VIP}:80");
    proto::adm(control, &["-A", "-u", &uvip, "-s", "rr"])?;
    proto::adm(control, &["-A", "-t", &tvip, "-s", "rr"])?;
    for n in [1, 2] {
        let urip = format!("{}:{UDP_PORT}", rs_addr(n));
        let trip = format!("{}:80", rs_addr(n));
        proto::adm(control, &["-a", "-u", &uvip, "-r", &urip, "-m"])?;
        proto::adm(control, &["-a", "-t", &tvip, "-r", &trip, "-m"])?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: PerfArgs,
    }

    fn args(argv: &[&str]) -> PerfArgs {
        Cli::try_parse_from(std::iter::once("perf").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    /// Which datapaths' workers spin (and so get no CPU split), and that
    /// ringvs is told to.
    #[test]
    fn spinning_datapaths_are_the_busy_polling_ones_not_real_time() {
        let dp = |n| Datapath::parse(n).unwrap();
        let (plain, busy) = (args(&[]), args(&["--busy-poll"]));
        let spin = dp("ringvs-xdp-napi-spin-1w");
        assert!(spins(&plain, spin) && spins(&plain, dp("ringvs-xdp-busy-1w")));
        assert!(!spins(&plain, dp("ringvs-xdp-napi-rt-1w")));
        assert!(!spins(&plain, dp("ringvs-nat-1w")) && spins(&busy, dp("ringvs-nat-1w")));
        // Real-time workers never spin; the kernel has no workers.
        assert!(!spins(&busy, dp("ringvs-xdp-napi-rt-1w")));
        assert!(!spins(&busy, dp("kernel-nft")));
        let exe = Path::new("ringvs");
        let argv = ringvs_args(exe, Path::new("/run/x.sock"), spin, &plain, None);
        assert!(argv.iter().any(|s| s == "--busy-poll"), "{argv:?}");
        assert!(!argv.iter().any(|s| s == "--rt-priority"), "{argv:?}");
        let rt = ringvs_args(
            exe,
            Path::new("/run/x.sock"),
            dp("ringvs-xdp-napi-rt-1w"),
            &busy,
            None,
        );
        assert!(!rt.iter().any(|s| s == "--busy-poll"), "{rt:?}");
    }

    #[test]
    fn napi_kthreads_run_above_beside_or_below_the_worker() {
        let dp = |n| Datapath::parse(n).unwrap();
        let (plain, fifo5) = (args(&[]), args(&["--worker-fifo", "5"]));
        // A CFS kthread for the plain and real-time datapaths.
        assert_eq!(napi_fifo(&plain, dp("ringvs-xdp-napi-1w")), None);
        assert_eq!(napi_fifo(&plain, dp("ringvs-xdp-napi-rt-1w")), None);
        // Above the worker (10), at its priority, or above a CFS worker.
        assert_eq!(napi_fifo(&plain, dp("ringvs-xdp-napi-first-1w")), Some(11));
        assert_eq!(napi_fifo(&plain, dp("ringvs-xdp-napi-even-1w")), Some(10));
        assert_eq!(napi_fifo(&plain, dp("ringvs-xdp-napi-spin-1w")), Some(1));
        // They follow `--worker-fifo`.
        assert_eq!(napi_fifo(&fifo5, dp("ringvs-xdp-napi-first-1w")), Some(6));
        assert_eq!(napi_fifo(&fifo5, dp("ringvs-xdp-napi-even-1w")), Some(5));
        assert_eq!(worker_fifo(&fifo5, dp("ringvs-xdp-napi-even-1w")), Some(5));
    }
}
