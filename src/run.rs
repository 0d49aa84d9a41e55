//! `ringvs run`: its options, and the director they start (`control::run`).

use clap::{Args, ValueEnum};
use ringvs::config::Script;
use ringvs::control::{self, IoBackend, RunOptions};
use ringvs::io::ring::RxVersion;
use ringvs::io::xdp::XdpMode;
use ringvs::neigh::{Prefix, Prefix6};
use ringvs::proto;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum RingVersion {
    V2,
    V3,
}

#[derive(Args)]
pub(crate) struct RunArgs {
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
    /// TPACKET_V3 block retire timeout in milliseconds, 1-65535: the kernel
    /// keeps it in 16 bits (a larger value would wrap), and 0 would ask for
    /// its own default, computed from the link speed.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65535))]
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
    /// IPVS's `sloppy_tcp` sysctl: any TCP segment without RST that matches
    /// no connection is scheduled, not only a SYN, so that a director that
    /// took over without the connections (no sync) carries them on; with
    /// `sh` or `mh` they reach the server they had. Default: off, as IPVS.
    #[arg(long)]
    sloppy_tcp: bool,
    /// IPVS's `sloppy_sctp` sysctl: any SCTP packet whose first chunk is not
    /// ABORT, of no association, is scheduled, not only an INIT.
    #[arg(long)]
    sloppy_sctp: bool,
    /// The kernel's `net.ipv4.ipfrag_max_dist` sysctl: an IPv4 datagram in
    /// fragments whose source sent N fragments of other datagrams between
    /// two of its own is started over (its held fragments dropped,
    /// `frag_too_far`); 0 turns the check off. Counted per worker, so with
    /// several workers it takes about N times their number.
    #[arg(long, value_name = "N", default_value_t = ringvs::dataplane::FRAG_MAX_DIST,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(i32::MAX)))]
    ipfrag_max_dist: u32,
    /// IPVS's `sync_ports` sysctl: the sync daemons use N ports, the
    /// `--mcast-port` and the N-1 after it; a master spreads its messages
    /// over them by connection, a backup receives on all of them. A power of
    /// two; more than 64 counts as 64, as in IPVS. Default 1. Both ends of a
    /// sync link need the same value.
    #[arg(long, value_name = "N", default_value = "1",
          value_parser = ringvs::sync::daemon::parse_sync_ports)]
    sync_ports: u8,
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
pub(crate) enum IoArg {
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

/// `ringvs run`: the director in the foreground.
pub(crate) fn cmd_run(a: RunArgs) -> ExitCode {
    let ((ext_net, ext_net6), (int_net, int_net6), (gateway, gateway6)) = match run_addrs(&a) {
        Ok(addrs) => addrs,
        Err(e) => {
            use clap::CommandFactory;
            let mut cmd = crate::Cli::command();
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
            ringvs::log!("ringvs: {e}");
            return ExitCode::from(2);
        }
    };
    let notify_fifo_script = match a.notify_fifo_script.as_deref().map(Script::parse) {
        Some(Err(e)) => {
            ringvs::log!("ringvs: --notify-fifo-script: {e}");
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
            sloppy_tcp: a.sloppy_tcp,
            sloppy_sctp: a.sloppy_sctp,
            ipfrag_max_dist: a.ipfrag_max_dist,
            sync_ports: a.sync_ports,
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
        // Asked to stop before it had started: done as asked.
        Err(e @ control::RunError::Stopped) => {
            ringvs::log!("ringvs: {e}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            ringvs::log!("ringvs: {e}");
            ExitCode::FAILURE
        }
    }
}
