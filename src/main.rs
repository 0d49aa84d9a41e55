//! `ringvs`: the command line.

use clap::{Args, Parser, Subcommand, ValueEnum};
use ringvs::config::Script;
use ringvs::control::{self, IoBackend, RunOptions};
use ringvs::io::ring::RxVersion;
use ringvs::io::xdp::XdpMode;
use ringvs::neigh::{Prefix, Prefix6};
use ringvs::proto::{self, Command};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

mod demo;
mod genhash;

#[derive(Parser)]
#[command(
    name = "ringvs",
    version,
    about = "A userspace LVS-NAT load-balancing director on AF_PACKET rings",
    long_about = "ringvs does what `ipvsadm -m` (LVS in NAT mode) does in the kernel, in pinned \
worker threads that own two NICs through AF_PACKET mmap rings.\n\n\
Quick start (as root): `ringvs demo` builds two real servers behind a VIP in network \
namespaces and shows requests alternating between them."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the director in the foreground (Ctrl-C or SIGTERM stops it).
    Run(Box<RunArgs>),
    /// Configure a running director with ipvsadm's syntax, e.g.
    /// `ringvs adm -A -t 198.18.0.110:80 -s rr`.
    #[command(
        disable_help_flag = true,
        after_help = "Everything after the options above is an ipvsadm command line: \
-A/-E/-D -t|-u VIP:PORT [-s SCHED] [-p [T]] [-M MASK] [-b FLAGS], \
-a/-e/-d -t|-u VIP:PORT -r RIP[:PORT] -m [-w N] [-x U] [-y L], -C, -R, -S [-n], \
-L|-l [-n] [--stats|--rate|--thresholds|--persistent-conn|-c|--timeout] [--exact], \
-Z [SERVICE], --set TCP TCPFIN UDP. `ringvs adm -h` prints ipvsadm's own help."
    )]
    Adm {
        /// The director's control socket.
        #[arg(long, default_value = proto::DEFAULT_SOCKET)]
        control: PathBuf,
        /// The ipvsadm command line.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        argv: Vec<String>,
    },
    /// Print every worker's counters (packets, drops by reason, connections).
    Stats {
        #[arg(long, default_value = proto::DEFAULT_SOCKET)]
        control: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Write a pcap of the frames a running director receives or sends, e.g.
    /// `ringvs capture -w - --filter 'tcp and port 80' | tcpdump -nr -`.
    Capture {
        #[arg(long, default_value = proto::DEFAULT_SOCKET)]
        control: PathBuf,
        /// Which NIC: ext (clients, VIPs), int (real servers) or both.
        #[arg(long, default_value = "both")]
        nic: String,
        /// rx: as received (before NAT); tx: as sent (after NAT); or both.
        #[arg(long, default_value = "both")]
        dir: String,
        /// Filter: `tcp|udp|icmp|arp|ip`, `[src|dst] [host] ADDR`, `[src|dst] net
        /// ADDR/LEN`, `[src|dst] port N`, each optionally preceded by `not`, joined
        /// by `and` (see docs/debugging.md).
        #[arg(long, default_value = "")]
        filter: String,
        /// Stop after COUNT frames (0: until interrupted).
        #[arg(short = 'c', default_value_t = 0)]
        count: u64,
        /// The pcap file to write (`-` for standard output).
        #[arg(short = 'w')]
        write: PathBuf,
    },
    /// Print, for each received packet matching FILTER, what the director decided:
    /// service, connection, scheduler choice, state, rewrite, neighbor, drop reason.
    Trace {
        #[arg(long, default_value = proto::DEFAULT_SOCKET)]
        control: PathBuf,
        /// Filter words, as for `capture --filter` (may be given unquoted).
        #[arg(num_args = 0.., trailing_var_arg = true)]
        filter: Vec<String>,
        /// Stop after COUNT packets (0: until interrupted).
        #[arg(short = 'c', default_value_t = 0)]
        count: u64,
    },
    /// Live view of per-service and per-real-server rates (`adm -L -n --rate`) and
    /// drops per second by reason, refreshed every second.
    Top {
        #[arg(long, default_value = proto::DEFAULT_SOCKET)]
        control: PathBuf,
        /// Print one frame (rates over one second) and exit.
        #[arg(long)]
        once: bool,
    },
    /// Build the seed's LVS-NAT scenario in network namespaces and show it working
    /// (root; needs iproute2 and ethtool).
    Demo {
        /// Requests the client makes.
        #[arg(long, default_value_t = 6)]
        requests: usize,
        /// Also print the director's per-worker counters at the end.
        #[arg(long)]
        stats: bool,
        /// The director's packet I/O (`xdp`: two AF_XDP workers, one per queue of the lab's two-queue veths).
        #[arg(long, value_enum, default_value = "packet")]
        io: IoArg,
        /// The same scenario over IPv6: VIP [2001:2:0:1::110]:80, real servers
        /// [2001:2:0:2::2]:80 and [2001:2:0:2::3]:80 (a dual-stack lab).
        #[arg(long)]
        ipv6: bool,
    },
    /// keepalived's genhash: the MD5 of a real server's answer body, the value
    /// of `--check-digest` (connects through this host's own network stack).
    Genhash(genhash::GenhashArgs),
    /// (lab) A tiny HTTP server answering every request with BODY.
    #[command(hide = true)]
    ServeHttp {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        body: String,
        #[arg(long, default_value_t = 600)]
        max_secs: u64,
    },
    /// (lab) Fetch http://ADDR/ and print the body.
    #[command(hide = true)]
    HttpGet {
        addr: SocketAddr,
        #[arg(long, default_value_t = 1)]
        count: usize,
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
        /// All requests on one HTTP/1.1 keep-alive connection.
        #[arg(long)]
        keepalive: bool,
        /// Pause between requests.
        #[arg(long, default_value_t = 0)]
        interval_ms: u64,
        /// Retry a failed request (on a new connection) up to N times; each
        /// failed try that is retried prints `retried: ERROR`.
        #[arg(long, default_value_t = 0)]
        retries: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RingVersion {
    V2,
    V3,
}

#[derive(Args)]
struct RunArgs {
    /// External NIC (clients, VIPs). Needs no kernel IP address.
    #[arg(long)]
    ext: String,
    /// The director's address and prefix on the external segment; clients in that
    /// prefix are on-link, others are reached via --gateway. Once per family:
    /// IPv4 is required, an IPv6 prefix (e.g. `--ext-addr 198.18.0.2/24
    /// --ext-addr 2001:2:0:1::2/64`) turns IPv6 on and needs an IPv6 --int-addr.
    #[arg(long, value_name = "A.B.C.D/P|X:X::X/P", required = true, value_parser = any_prefix)]
    ext_addr: Vec<AnyPrefix>,
    /// Router for clients outside --ext-addr's prefix; once per family (an IPv6
    /// one for IPv6 clients).
    #[arg(long, value_name = "ADDR")]
    gateway: Vec<IpAddr>,
    /// Internal NIC (real servers).
    #[arg(long)]
    int: String,
    /// Router on the internal segment, for tunnelled real servers (`-i`)
    /// outside the DIP's prefix.
    #[arg(long, value_name = "ADDR")]
    int_gateway: Option<Ipv4Addr>,
    /// The DIP and prefix: the real servers' gateway address. Once per family:
    /// IPv4 is required, an IPv6 prefix (e.g. `--int-addr 198.19.0.1/24
    /// --int-addr 2001:2:0:2::1/64`) is the IPv6 real servers' gateway and
    /// needs an IPv6 --ext-addr.
    #[arg(long, value_name = "DIP/P|X:X::X/P", required = true, value_parser = any_prefix)]
    int_addr: Vec<AnyPrefix>,
    /// Worker threads (default: one per core this process may use).
    #[arg(long)]
    workers: Option<usize>,
    /// Load rules in `ipvsadm -S` format at start.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Load the `virtual_server` blocks of a keepalived.conf (the one keepalived
    /// reads for VRRP) at start; SIGHUP re-reads it and applies only what
    /// changed (docs/ha.md).
    #[arg(long, value_name = "FILE")]
    keepalived: Option<PathBuf>,
    /// Control socket path.
    #[arg(long, default_value = proto::DEFAULT_SOCKET)]
    control: PathBuf,
    /// Spin instead of sleeping in poll() when idle (lowest latency, a full core
    /// each); with `--io xdp` also the kernel's preferred busy polling on the
    /// sockets.
    #[arg(long)]
    busy_poll: bool,
    /// Run the workers under SCHED_FIFO at this priority (1-99), as keepalived's
    /// `vrrp_rt_priority` does for its VRRP thread: a worker woken by a frame then
    /// preempts the kernel's receive threads on its CPU (ksoftirqd, threaded
    /// NAPI) instead of queueing behind them. Not with --busy-poll (a spinning
    /// real-time worker starves the kernel threads that feed it).
    #[arg(long, value_name = "PRIO", value_parser = clap::value_parser!(u8).range(1..=99), conflicts_with = "busy_poll")]
    rt_priority: Option<u8>,
    /// RX ring format: v2 hands each frame over at once; v3 batches frames in blocks.
    #[arg(long, value_enum, default_value = "v2")]
    rx_ring: RingVersion,
    /// TPACKET_V3 block retire timeout in milliseconds.
    #[arg(long, default_value_t = 1)]
    v3_timeout_ms: u32,
    /// 64 KiB blocks per ring (32 frames of 2 KiB each).
    #[arg(long, default_value_t = 64)]
    ring_blocks: u32,
    /// Connections each worker can track.
    #[arg(long, default_value_t = 1 << 18)]
    max_conns: usize,
    /// Frames taken from each RX ring per worker loop before the TX rings are kicked.
    #[arg(long, default_value_t = ringvs::dataplane::BURST)]
    burst: usize,
    /// CPUs to pin the workers to, in worker order (e.g. `2,3`); workers beyond the
    /// list wrap around it.
    #[arg(long, value_delimiter = ',')]
    cpus: Option<Vec<usize>>,
    /// Benchmark mode: forward IPv4 between the NICs by destination address with no
    /// NAT and no connection tracking (the ceiling of ringvs's own I/O path).
    #[arg(long)]
    io_only: bool,
    /// Packet I/O: `packet` (AF_PACKET rings, any NIC, any number of workers) or
    /// `xdp` (AF_XDP sockets fed by an XDP program: IPv4 and ARP skip the kernel's
    /// stack; one worker per NIC receive queue: each NIC needs `--workers` RX
    /// queues, `ethtool -L IF combined N`).
    #[arg(long, value_enum, default_value = "packet")]
    io: IoArg,
    /// With `--io xdp`: where the XDP program runs. `native` in the driver (before
    /// the kernel allocates anything), `generic` in the core receive path (any
    /// NIC, on the CPU RPS picks), `auto` native where the driver has it.
    #[arg(long, value_enum, default_value = "auto")]
    xdp_mode: XdpModeArg,
    /// With `--io xdp` and several workers: which worker owns a flow. `hash`
    /// (default) ringvs's hash of the client address and port: works on any NIC,
    /// but a frame RSS puts on another worker's queue is handed over (most of
    /// them). `rss` the queue the NICs' own RSS gives the client address: no
    /// handoffs, on NICs that hash the client address alone with the same
    /// Toeplitz key and indirection table (checked with ethtool at start; see
    /// docs/operations.md).
    #[arg(long, value_enum, default_value = "hash")]
    steer: SteerArg,
    /// With `--io xdp` and several workers: the frame memory (UMEM) of the
    /// sockets. `shared` (default) one for all workers: a frame handed to the
    /// worker that owns its connection moves by its descriptor and leaves
    /// from the buffer it arrived in. `per-worker` one per worker: a handed
    /// frame is copied (for comparison; also taken when the kernel refuses
    /// to share, with a log line).
    #[arg(long, value_enum, default_value = "shared")]
    umem: UmemArg,
    /// IPVS's `conn_reuse_mode` sysctl: non-zero (default 1), a client SYN that
    /// meets a connection in TIME_WAIT or CLOSE of the same ports expires it and
    /// is scheduled anew; 0, it goes to that connection's real server.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=3))]
    conn_reuse_mode: u8,
    /// IPVS's `expire_nodest_conn` sysctl: a client packet of a connection whose
    /// real server was removed expires the connection and is treated as new (a
    /// SYN is scheduled again). Default: such packets are dropped and the
    /// connection kept until it times out.
    #[arg(long)]
    expire_nodest_conn: bool,
    /// IPVS's `expire_quiescent_template` sysctl: a persistence template whose
    /// real server has weight 0 is not used; the client is scheduled anew.
    /// Default: quiesced servers keep their persistent clients.
    #[arg(long)]
    expire_quiescent_template: bool,
    /// IPVS's FTP helper (`modprobe ip_vs_ftp ports=21`): NAT connections to
    /// these virtual ports (comma-separated, at most 8) are read as FTP control
    /// connections, so passive (PASV/EPSV) and active (PORT/EPRT) data
    /// connections work through the director. Off by default (docs/ipvsadm.md)
    #[arg(long, value_name = "PORTS", value_delimiter = ',')]
    ftp_ports: Vec<u16>,
    /// Serve Prometheus metrics (counters per worker, per-server traffic and
    /// connections) over HTTP on this address, e.g. 127.0.0.1:9100.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// keepalived's lvs_notify_fifo: a line for every real server that goes
    /// up or down and every quorum gained or lost ("RS [198.19.0.2]:tcp:80
    /// [198.18.0.110]:tcp:80 DOWN", "VS [198.18.0.110]:tcp:80 UP") is written
    /// to this FIFO, made if missing (docs/health.md)
    #[arg(long, value_name = "PATH")]
    notify_fifo: Option<PathBuf>,
    /// keepalived's lvs_notify_fifo_script: this command is started with the
    /// FIFO's path as its last argument, to read the lines
    #[arg(long, value_name = "COMMAND", requires = "notify_fifo")]
    notify_fifo_script: Option<String>,
    /// keepalived's script_user: notify scripts, MISC_CHECK commands and the
    /// FIFO's script that name no user of their own run as this user (and its
    /// primary group, or GROUP).
    /// Default: the file's script_user, else user keepalived_script if the
    /// host has it, else ringvs's own (docs/health.md)
    #[arg(long, value_name = "USER[:GROUP]")]
    script_user: Option<ringvs::config::ScriptUser>,
    /// keepalived's enable_script_security: a script that would run as root
    /// from a file or directory that is not root's, or that others may write,
    /// is not run
    #[arg(long)]
    script_security: bool,
    /// The director's role in an active/standby pair: a standby answers no ARP
    /// or ping for its addresses, forwards nothing and runs no health checks;
    /// it keeps its rules and the connections the sync daemon gives it, and
    /// serves them as soon as `ringvs adm --ha active` (keepalived's
    /// notify_master script) makes it active (docs/ha.md).
    #[arg(long, value_enum, default_value = "active")]
    ha: HaArg,
    /// Connection sync: every connection in a synced state is sent again at
    /// least every SECS seconds while this director is the active master, so a
    /// backup that (re)started has the whole table after one period (0: only
    /// changes are sent, as IPVS). See docs/ha.md.
    #[arg(long, value_name = "SECS", default_value_t = ringvs::dataplane::sync::RESEND_DEFAULT_S)]
    sync_resend: u32,
}

/// An address and prefix of either family (`--ext-addr`, `--int-addr`).
#[derive(Clone, Copy, Debug)]
enum AnyPrefix {
    V4(Prefix),
    V6(Prefix6),
}

fn any_prefix(s: &str) -> Result<AnyPrefix, String> {
    match s.split_once('/') {
        Some((a, _)) if a.contains(':') => s.parse().map(AnyPrefix::V6),
        _ => s.parse().map(AnyPrefix::V4),
    }
}

/// At most one value of each family for the option `flag` (each value given
/// with how the command line wrote it): the IPv4 one and the IPv6 one.
fn per_family<A, B>(
    flag: &str,
    values: impl IntoIterator<Item = (Result<A, B>, String)>,
) -> Result<(Option<A>, Option<B>), String> {
    let (mut v4, mut v6) = (None, None);
    for (v, text) in values {
        let (family, first) = match v {
            Ok(a) => match v4.replace((a, text.clone())) {
                None => continue,
                Some((_, first)) => ("IPv4", first),
            },
            Err(b) => match v6.replace((b, text.clone())) {
                None => continue,
                Some((_, first)) => ("IPv6", first),
            },
        };
        return Err(format!(
            "{flag} given twice for {family} ({first} and {text}): once per family"
        ));
    }
    Ok((v4.map(|v| v.0), v6.map(|v| v.0)))
}

/// The addresses of `ringvs run` by family: IPv4's required, IPv6's
/// optional (checked further by `control::run`: both NICs or neither).
type Addrs = (
    (Prefix, Option<Prefix6>),
    (Prefix, Option<Prefix6>),
    (Option<Ipv4Addr>, Option<Ipv6Addr>),
);

fn run_addrs(a: &RunArgs) -> Result<Addrs, String> {
    let split = |p: &AnyPrefix| match *p {
        AnyPrefix::V4(p) => (Ok(p), format!("{}/{}", p.addr, p.len)),
        AnyPrefix::V6(p) => (Err(p), format!("{}/{}", p.addr, p.len)),
    };
    let prefix = |flag: &str, v: &[AnyPrefix]| {
        let (v4, v6) = per_family(flag, v.iter().map(split))?;
        let v4 = v4.ok_or_else(|| {
            format!("{flag} needs an IPv4 prefix (an IPv6 one comes in addition, not instead)")
        })?;
        Ok::<_, String>((v4, v6))
    };
    let gw = |g: &IpAddr| match *g {
        IpAddr::V4(a) => (Ok(a), a.to_string()),
        IpAddr::V6(a) => (Err(a), a.to_string()),
    };
    Ok((
        prefix("--ext-addr", &a.ext_addr)?,
        prefix("--int-addr", &a.int_addr)?,
        per_family("--gateway", a.gateway.iter().map(gw))?,
    ))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HaArg {
    Active,
    Standby,
}

#[derive(Clone, Copy, ValueEnum)]
enum IoArg {
    Packet,
    Xdp,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum UmemArg {
    Shared,
    PerWorker,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SteerArg {
    Hash,
    Rss,
}

#[derive(Clone, Copy, ValueEnum)]
enum XdpModeArg {
    Auto,
    Native,
    Generic,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run(a) => cmd_run(*a),
        Cmd::Adm { control, argv } => cmd_adm(&control, argv),
        Cmd::Stats { control, json } => client("ringvs stats", &control, Command::Stats { json }),
        Cmd::Capture {
            control,
            nic,
            dir,
            filter,
            count,
            write,
        } => cmd_capture(&control, nic, dir, filter, count, &write),
        Cmd::Trace {
            control,
            filter,
            count,
        } => cmd_trace(&control, filter.join(" "), count),
        Cmd::Top { control, once } => cmd_top(&control, once),
        Cmd::Demo {
            requests,
            stats,
            io,
            ipv6,
        } => demo::run(requests, stats, matches!(io, IoArg::Xdp), ipv6),
        Cmd::Genhash(a) => genhash::run(a),
        Cmd::ServeHttp {
            listen,
            body,
            max_secs,
        } => demo::serve_http(listen, &body, max_secs),
        Cmd::HttpGet {
            addr,
            count,
            timeout_ms,
            keepalive,
            interval_ms,
            retries,
        } => demo::http_get(addr, count, timeout_ms, keepalive, interval_ms, retries),
    }
}

/// `ringvs run`: the director in the foreground.
fn cmd_run(a: RunArgs) -> ExitCode {
    let ((ext_net, ext_net6), (int_net, int_net6), (gateway, gateway6)) = match run_addrs(&a) {
        Ok(addrs) => addrs,
        Err(e) => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            cmd.build();
            let run = cmd.find_subcommand_mut("run").map(|c| c.clone());
            run.unwrap_or(cmd)
                .error(clap::error::ErrorKind::ArgumentConflict, e)
                .exit()
        }
    };
    let ftp = match ringvs::nat::ftp::FtpPorts::new(&a.ftp_ports) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ringvs: {e}");
            return ExitCode::from(2);
        }
    };
    let notify_fifo_script = match a.notify_fifo_script.as_deref().map(Script::parse) {
        Some(Err(e)) => {
            eprintln!("ringvs: --notify-fifo-script: {e}");
            return ExitCode::from(2);
        }
        s => s.and_then(Result::ok),
    };
    let opts = RunOptions {
        notify_fifo: a.notify_fifo,
        notify_fifo_script,
        scripts: ringvs::config::keepalived::ScriptSettings {
            user: a.script_user,
            security: a.script_security,
        },
        ftp,
        ext: a.ext,
        ext_net,
        ext_net6,
        gateway,
        gateway6,
        int_gateway: a.int_gateway,
        int: a.int,
        int_net,
        int_net6,
        workers: a.workers,
        rules: a.rules,
        keepalived: a.keepalived,
        control: a.control,
        busy_poll: a.busy_poll,
        rt_priority: a.rt_priority,
        rx_version: match a.rx_ring {
            RingVersion::V2 => RxVersion::V2,
            RingVersion::V3 => RxVersion::V3 {
                block_timeout_ms: a.v3_timeout_ms,
            },
        },
        ring_blocks: a.ring_blocks,
        max_conns: a.max_conns,
        io_only: a.io_only,
        burst: a.burst,
        cpus: a.cpus,
        sysctl: ringvs::dataplane::Sysctl {
            conn_reuse_mode: a.conn_reuse_mode,
            expire_nodest_conn: a.expire_nodest_conn,
            expire_quiescent_template: a.expire_quiescent_template,
        },
        metrics: a.metrics,
        standby: a.ha == HaArg::Standby,
        sync_resend: a.sync_resend,
        steer_rss: a.steer == SteerArg::Rss,
        per_worker_umem: a.umem == UmemArg::PerWorker,
        io: match a.io {
            IoArg::Packet => IoBackend::Packet,
            IoArg::Xdp => IoBackend::Xdp(match a.xdp_mode {
                XdpModeArg::Auto => XdpMode::Auto,
                XdpModeArg::Native => XdpMode::Native,
                XdpModeArg::Generic => XdpMode::Generic,
            }),
        },
    };
    match control::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringvs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `ringvs adm`: send an ipvsadm command line (for `-R`, the rules read from
/// standard input) to the director.
fn cmd_adm(control: &std::path::Path, argv: Vec<String>) -> ExitCode {
    // Check the syntax here so a typo is reported even with no director.
    let names = ringvs::config::names::Names::system();
    match ringvs::config::ipvsadm::parse_with(&argv, &names) {
        Err(ringvs::config::AdmError::Help(text)) => {
            if out(&text) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(u8::try_from(e.exit_code() & 0xff).unwrap_or(1))
        }
        Ok(ringvs::config::ipvsadm::AdmCommand::Restore) => {
            use std::io::Read;
            // Bounded as the control socket bounds a request: more could
            // never be sent.
            let limit = ringvs::proto::MAX_REQUEST as u64;
            let mut rules = String::new();
            if let Err(e) = std::io::stdin().take(limit + 1).read_to_string(&mut rules) {
                eprintln!("ringvs adm -R: reading standard input: {e}");
                return ExitCode::from(2);
            }
            if rules.len() as u64 > limit {
                eprintln!("ringvs adm -R: standard input: larger than {limit} bytes");
                return ExitCode::from(2);
            }
            // A syntax error is reported here, before anything is sent.
            if let Err(e) = ringvs::config::ipvsadm::parse_rules_with(&rules, &names) {
                eprintln!("{e}");
                return ExitCode::from(u8::try_from(e.exit_code() & 0xff).unwrap_or(1));
            }
            client("ringvs adm", control, Command::Restore { rules })
        }
        Ok(_) => client("ringvs adm", control, Command::Adm { argv }),
    }
}

/// `ringvs top`.
fn cmd_top(control: &std::path::Path, once: bool) -> ExitCode {
    match ringvs::observe::top::run(control, once, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringvs top: {e}");
            ExitCode::from(2)
        }
    }
}

/// Write `text` to standard output; false if nobody reads it any more
/// (`ringvs adm -L -n -c | head`), where `print!` would panic. The caller
/// then stops, as a C tool stops on SIGPIPE.
pub(crate) fn out(text: &str) -> bool {
    use std::io::Write as _;
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .is_ok()
}

/// Send one command to the director and relay its answer.
fn client(name: &str, socket: &std::path::Path, cmd: Command) -> ExitCode {
    match proto::call(socket, cmd) {
        Ok(r) => {
            if !out(&r.out) {
                return ExitCode::FAILURE;
            }
            eprint!("{}", r.err);
            ExitCode::from(u8::try_from(r.code & 0xff).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(2)
        }
    }
}

/// `ringvs capture`: check the filter here (a typo is reported without a
/// director), then stream the pcap into the file or standard output.
fn cmd_capture(
    socket: &std::path::Path,
    nic: String,
    dir: String,
    filter: String,
    count: u64,
    write: &std::path::Path,
) -> ExitCode {
    use ringvs::observe::{filter::Filter, points, stream};
    if let Err(e) = points(&nic, &dir).and_then(|_| Filter::parse(&filter)) {
        eprintln!("ringvs capture: {e}");
        return ExitCode::from(2);
    }
    let cmd = Command::Capture {
        nic,
        dir,
        filter,
        count,
    };
    let mut out: Box<dyn std::io::Write> = if write == std::path::Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        match std::fs::File::create(write) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("ringvs capture: {}: {e}", write.display());
                return ExitCode::from(2);
            }
        }
    };
    match stream::capture(socket, cmd, &mut out) {
        Ok(end) => {
            eprintln!(
                "ringvs capture: {} frames captured, {} dropped (reader too slow)",
                end.packets, end.dropped
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ringvs capture: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `ringvs trace`.
fn cmd_trace(socket: &std::path::Path, filter: String, count: u64) -> ExitCode {
    use ringvs::observe::{filter::Filter, stream};
    if let Err(e) = Filter::parse(&filter) {
        eprintln!("ringvs trace: {e}");
        return ExitCode::from(2);
    }
    let mut out = std::io::stdout().lock();
    match stream::trace(socket, Command::Trace { filter, count }, &mut out) {
        Ok(end) => {
            eprintln!(
                "ringvs trace: {} packets traced, {} dropped (reader too slow)",
                end.packets, end.dropped
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ringvs trace: {e}");
            ExitCode::FAILURE
        }
    }
}
