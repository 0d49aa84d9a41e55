//! Starting the director (`ringvs run`): checking the options, finding the
//! NICs, loading the rules, opening the workers' queues (`queues.rs`: AF_PACKET fanout
//! rings or AF_XDP sockets), wiring and spawning the workers, starting the
//! control threads (socket server, metrics, rate sampler, health checks), then
//! handing the control thread to the neighbor loop until a signal or a
//! stopped worker, and stopping everything.

use super::adm::AdmState;
use super::queues::{Queues, WorkerQueues, allmulti, open_queues, open_tx};
use super::{Ctl, RunError, load_rules, neigh, report, server};
use crate::Nic;
use crate::config::Config;
use crate::dataplane::{Director, Env, HANDOFF_DEPTH, Plan, Shared, Worker};
use crate::io::nic::{self, NicInfo};
use crate::io::ring::{RingSize, RxVersion, TxRing};
use crate::io::rss::Rss;
use crate::io::xdp::{XdpMode, XdpProgram};
use crate::io::{RxQueue, TxQueue};
use crate::nat::{Snapshot, Timeouts};
use crate::neigh::{Prefix, Prefix6};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// How `ringvs run` was asked to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub ext: String,
    pub ext_net: Prefix,
    pub gateway: Option<Ipv4Addr>,
    /// `--int-gateway`: the router on the internal segment (tunnel targets
    /// outside the DIP's prefix).
    pub int_gateway: Option<Ipv4Addr>,
    pub int: String,
    pub int_net: Prefix,
    /// The IPv6 address and prefix on each NIC (`--ext-addr`/`--int-addr`
    /// given once more, an IPv6 prefix) and the IPv6 router for clients off
    /// that prefix (`--gateway`): IPv6 is on with both addresses, off without
    /// either, and one alone is refused ([`check_options`]).
    pub ext_net6: Option<Prefix6>,
    pub int_net6: Option<Prefix6>,
    pub gateway6: Option<Ipv6Addr>,
    pub workers: Option<usize>,
    pub rules: Option<PathBuf>,
    /// `--keepalived FILE`: rules from keepalived.conf's `virtual_server`
    /// blocks, re-read on SIGHUP.
    pub keepalived: Option<PathBuf>,
    pub control: PathBuf,
    pub busy_poll: bool,
    /// `--rt-priority`: run the workers under SCHED_FIFO at this priority.
    pub rt_priority: Option<u8>,
    pub rx_version: RxVersion,
    pub ring_blocks: u32,
    pub max_conns: usize,
    /// Forward without NAT (benchmark ceiling of the I/O path).
    pub io_only: bool,
    /// Frames per RX queue per worker loop.
    pub burst: usize,
    /// CPUs to pin workers to, in worker order (default: every CPU we may use).
    pub cpus: Option<Vec<usize>>,
    /// Which sockets the workers read and write frames with.
    pub io: IoBackend,
    /// `--steer rss`: with AF_XDP, a flow's owner is the queue the NICs' RSS
    /// gives its client address (see `io::rss`).
    pub steer_rss: bool,
    /// `--umem per-worker`: with AF_XDP, each worker's sockets on a UMEM of
    /// their own instead of one for all (frames handed between workers are
    /// then copied).
    pub per_worker_umem: bool,
    /// IPVS's sysctls of the packet path (see `dataplane::Sysctl`).
    pub sysctl: crate::dataplane::Sysctl,
    /// The FTP helper's ports (`--ftp-ports`).
    pub ftp: crate::nat::ftp::FtpPorts,
    /// Serve Prometheus metrics over HTTP here (`--metrics`).
    pub metrics: Option<std::net::SocketAddr>,
    /// `--notify-fifo` (keepalived's `lvs_notify_fifo`) and
    /// `--notify-fifo-script` (`lvs_notify_fifo_script`).
    pub notify_fifo: Option<PathBuf>,
    pub notify_fifo_script: Option<crate::config::Script>,
    /// `--script-user` and `--script-security` (keepalived's `script_user`
    /// and `enable_script_security`).
    pub scripts: crate::config::keepalived::ScriptSettings,
    /// `--ha standby`: start as the standby of an active/standby pair.
    pub standby: bool,
    /// `--sync-resend`: the master's resend period, seconds (0: none).
    pub sync_resend: u32,
}

/// The packet I/O under the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoBackend {
    /// AF_PACKET `PACKET_MMAP` rings joined to a fanout group (any NIC, any number
    /// of workers; the kernel also sees every frame).
    Packet,
    /// AF_XDP sockets fed by an XDP redirect program: frames skip the kernel's
    /// stack. One worker per NIC receive queue; frames that RSS put on another
    /// worker's queue are handed to the worker owning their client key.
    Xdp(XdpMode),
}

/// Run the director in the foreground until SIGINT or SIGTERM.
pub fn run(opts: RunOptions) -> Result<(), RunError> {
    // Before anything slow (the rules, the connection tables, the rings):
    // a SIGHUP during the start is kept for later, not fatal; a SIGINT or
    // SIGTERM stops the start at the next step (`still_wanted`) and leaves
    // nothing behind, where its default action would leave the control
    // socket's file once bound.
    let hup = super::reload::catch_sighup()?;
    let term = on_signals()?;
    let (cores, n) = check_options(&opts)?;
    let (ext, int) = discover_nics(&opts)?;
    let mut adm = AdmState {
        cfg: Config::new(),
        timeouts: Timeouts::default(),
    };
    if let Some(path) = &opts.rules {
        load_rules(&mut adm.cfg, &mut adm.timeouts, path)?;
    }
    let ka = match &opts.keepalived {
        Some(path) => Some(super::reload::load_at_start(
            &mut adm.cfg,
            path,
            opts.scripts.clone(),
            // The DIPs, which a checker's `bindto` may name.
            std::iter::once(std::net::IpAddr::V4(opts.int_net.addr))
                .chain(opts.int_net6.map(|p| std::net::IpAddr::V6(p.addr)))
                .collect(),
        )?),
        None => {
            let none = crate::config::keepalived::ScriptSettings::default();
            let p = super::reload::script_policy(&opts.scripts, &none);
            super::reload::set_script_policy(&opts.scripts, p)?;
            None
        }
    };
    still_wanted(&term)?;
    let fifo = match &opts.notify_fifo {
        Some(p) => Some(
            crate::health::Fifo::open(p)
                .map_err(|e| RunError::Invalid(format!("--notify-fifo {}: {e}", p.display())))?,
        ),
        None => None,
    };
    // The data plane's shared state and wiring (`dataplane::Director`); the
    // workers themselves are built once their queues are open.
    let fanout_key = fanout_key();
    // AF_PACKET's fanout program already brings both directions of a flow to
    // one worker; RSS on AF_XDP queues does not. When steering, a ring to a
    // peer holds a whole pass's worth (a burst from each NIC).
    let steer = matches!(opts.io, IoBackend::Xdp(_)) && n > 1;
    let mut env = worker_env(&opts, &ext, &int, fanout_key);
    if opts.steer_rss {
        let rss = |nic: &NicInfo| crate::io::rss::read(&nic.name);
        let pair = rss(&ext).and_then(|e| rss(&int).and_then(|i| Rss::for_pair(&e, &i, n)));
        let rss = pair.map_err(|e| RunError::Invalid(e.to_string()))?;
        if env.ipv6()
            && let Some(advice) = rss.advice6()
        {
            crate::log!("ringvs: {advice}");
        }
        env.rss = Some(Arc::new(rss));
    }
    let plan = Plan {
        burst: opts.burst,
        handoff_depth: if steer {
            (2 * opts.burst).clamp(HANDOFF_DEPTH, 1024)
        } else {
            HANDOFF_DEPTH
        },
        steer,
        ..Plan::new(n, env, opts.max_conns)
    };
    let mut dp = Director::new(plan, Snapshot::build(&adm.cfg, adm.timeouts));
    let (shared, env) = (Arc::clone(&dp.shared), Arc::clone(&dp.env));
    for (m, e) in shared.mtu.iter().zip(env.mtu) {
        m.store(e, Ordering::Relaxed);
    }
    shared.ha.set_standby(opts.standby);
    shared.ha.set_resend_s(opts.sync_resend);

    // The control thread's own sockets (ARP probes, gratuitous ARP): AF_PACKET
    // whatever the workers use. 256 slots a NIC: a takeover writes 5 rounds
    // of every address at once (`control::neigh::announce`), and a slot
    // comes back only when the NIC has sent its frame.
    let ctl_tx = [
        open_tx(&ext, RingSize::new(8))?,
        open_tx(&int, RingSize::new(8))?,
    ];
    let queues = open_queues(&opts, n, &ext, &int, fanout_key)?;
    // Held until the director stops: a second `ringvs run` on either NIC
    // is refused (once its options passed the checks of opening the
    // queues, and before a worker reads them) instead of answering every
    // frame a second time.
    let _claims = [claim_nic(&ext.name)?, claim_nic(&int.name)?];
    // Neighbor solicitations go to solicited-node multicast groups the NICs
    // drop unless opened to them (`AllMulti`), held until the director stops.
    let _allmulti = if env.ipv6() {
        vec![allmulti(&ext)?, allmulti(&int)?]
    } else {
        Vec::new()
    };

    let (neigh_tx, neigh_rx) = (dp.neigh_tx.clone(), dp.neigh_rx.clone());
    let (garp_tx, garp_rx) = super::announce_queue();
    let (notifier, notes) = crate::health::Notifier::channel();
    let ctl = Arc::new(Ctl::new(
        adm,
        Arc::clone(&shared),
        dp.published.clone(),
        (garp_tx, notifier),
    ));
    if let Some(src) = ka {
        ctl.set_ka_source(src);
    }
    // Always: without `--keepalived` a SIGHUP (the usual "reload") is
    // logged as having nothing to re-read, where its default action would
    // kill the director and every connection with it. One caught since
    // `run` began is honoured now.
    super::reload::watch_sighup(&ctl, hup)?;
    if let Some(ports) = dp.sync.take() {
        ctl.set_daemons(crate::sync::daemon::Daemons::new(
            Arc::clone(&shared),
            Arc::clone(&env),
            ports,
            dp.plan.start,
        ));
    }

    // Health checks: their own TX ring on the internal NIC, replies diverted by
    // the workers (connected before the workers start).
    let health_tx = open_tx(&int, RingSize::new(1))?;
    let health_rx = shared.health.connect();
    if let Ok(mut st) = ctl.adm.lock() {
        ctl.publish(&mut st);
    }

    // Bound before anything runs: a port in use fails the start here.
    let metrics = match opts.metrics {
        Some(a) => Some((
            a,
            TcpListener::bind(a).map_err(|e| RunError::Invalid(format!("--metrics {a}: {e}")))?,
        )),
        None => None,
    };
    still_wanted(&term)?;
    let (listener, socket_file) = server::bind_control(&opts.control)?;
    let busy = opts.busy_poll;
    // Keep the XDP programs attached for as long as the workers run.
    let (threads, xdp) = match queues {
        Queues::Packet(q) => (
            spawn_workers(dp.workers(q.pairs()), (busy, opts.rt_priority), &cores)?,
            Vec::new(),
        ),
        Queues::Xdp(q) => {
            let queues = WorkerQueues {
                ext: q.ext,
                int: q.int,
            };
            (
                spawn_workers(dp.workers(queues.pairs()), (busy, opts.rt_priority), &cores)?,
                q.programs,
            )
        }
    };
    drop(dp);
    if let Some(tap) = health_rx {
        let io = crate::health::HealthIo {
            tx: health_tx,
            tap,
            mac: int.mac,
            dip: opts.int_net.addr,
            prefix_len: opts.int_net.len,
            mtu: env.mtu[Nic::Int as usize],
            neigh_tx: neigh_tx.clone(),
            gateway: opts.int_gateway,
            net6: env.int_net6,
        };
        start_health(&ctl, io)?;
    }
    drop(neigh_tx);
    say_started(&opts, n, &ext, &int);

    let metrics_stop = start_services(listener, metrics, &ctl)?;
    // Last, once nothing can fail: a failed start leaves no thread behind,
    // and drops a notify FIFO it made (`Fifo`'s drop removes it). Events
    // until now wait in the queue.
    let notify = start_notifier(notes, fifo, opts.notify_fifo_script.clone(), &shared)?;

    let mut resolver = neigh::Resolver {
        tx: ctl_tx,
        macs: [ext.mac, int.mac],
        names: [ext.name.clone(), int.name.clone()],
        own: [opts.ext_net.addr, opts.int_net.addr],
        own6: [opts.ext_net6.map(|p| p.addr), opts.int_net6.map(|p| p.addr)],
        events: neigh_rx,
        garp: garp_rx,
        mtu: super::mtu::MtuWatch::new([&ext, &int], opts.io, std::time::Instant::now()),
    };
    // Announces our addresses (three rounds unless a standby) and resolves.
    let failed = resolver.run(&ctl, &term, &threads);
    // The sync daemons' sockets and threads go before the control socket.
    ctl.stop_daemons();
    stop(
        &shared,
        metrics_stop,
        (threads, xdp, notify),
        socket_file,
        failed,
    )
}

/// The notifier thread (`crate::health::run_notifier`): notify scripts and
/// the notify FIFO.
fn start_notifier(
    notes: crossbeam_channel::Receiver<crate::health::Note>,
    fifo: Option<crate::health::Fifo>,
    fifo_script: Option<crate::config::Script>,
    shared: &Arc<Shared>,
) -> Result<JoinHandle<()>, RunError> {
    let sh = Arc::clone(shared);
    std::thread::Builder::new()
        .name("ringvs-notify".into())
        .spawn(move || crate::health::run_notifier(notes, fifo, fifo_script, &sh.stop))
        .map_err(|e| RunError::Invalid(format!("spawning notify thread: {e}")))
}

/// The options `clap` cannot check: the CPUs to pin workers to (and so their
/// number), `--burst`, `--steer`, `--max-conns`.
fn check_options(opts: &RunOptions) -> Result<(Vec<core_affinity::CoreId>, usize), RunError> {
    let mut cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(list) = &opts.cpus {
        let allowed: Vec<usize> = cores.iter().map(|c| c.id).collect();
        if let Some(bad) = list.iter().find(|c| !allowed.contains(c)) {
            return Err(RunError::Invalid(format!(
                "--cpus: CPU {bad} is not one this process may use ({allowed:?})"
            )));
        }
        cores = list
            .iter()
            .map(|&id| core_affinity::CoreId { id })
            .collect();
    }
    if opts.workers == Some(0) {
        return Err(RunError::Invalid("--workers must be at least 1".into()));
    }
    let n = opts.workers.unwrap_or(cores.len()).max(1);
    if opts.burst == 0 || opts.burst > MAX_BURST {
        return Err(RunError::Invalid(format!(
            "--burst must be 1..={MAX_BURST}"
        )));
    }
    if opts.ring_blocks == 0 || opts.ring_blocks > MAX_RING_BLOCKS {
        return Err(RunError::Invalid(format!(
            "--ring-blocks must be 1..={MAX_RING_BLOCKS} (64 KiB each)"
        )));
    }
    if opts.steer_rss && !matches!(opts.io, IoBackend::Xdp(_)) {
        return Err(RunError::Invalid(
            "--steer rss needs --io xdp (AF_PACKET's fanout program picks the worker itself)"
                .into(),
        ));
    }
    if opts.per_worker_umem && !matches!(opts.io, IoBackend::Xdp(_)) {
        return Err(RunError::Invalid(
            "--umem per-worker needs --io xdp (AF_PACKET rings have no UMEM)".into(),
        ));
    }
    check_ipv6(opts).map_err(RunError::Invalid)?;
    if opts.max_conns == 0 || opts.max_conns > crate::nat::table::MAX_CONNS {
        return Err(RunError::Invalid(format!(
            "--max-conns must be 1..={}",
            crate::nat::table::MAX_CONNS
        )));
    }
    check_table_memory((opts.max_conns, opts.ext_net6.is_some()), n, mem_total())
        .map_err(RunError::Invalid)?;
    Ok((cores, n))
}

/// The most frames a worker takes from a ring per pass (`--burst`).
const MAX_BURST: usize = 4096;
/// The most 64 KiB blocks per ring (`--ring-blocks`): 1 GiB.
const MAX_RING_BLOCKS: u32 = 16384;

/// The machine's memory (`MemTotal` of `/proc/meminfo`), in bytes, if known.
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let kib: u64 = kib.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// `--max-conns` `m` within the machine's memory `mem`: each of `n`
/// workers allocates its connection tables (IPv4, and IPv6 with IPv6
/// addresses, `v6`) at start, and an allocation past the memory aborts the
/// process.
fn check_table_memory((m, v6): (usize, bool), n: usize, mem: Option<u64>) -> Result<(), String> {
    use crate::nat::table::ConnTable;
    let per = ConnTable::<u32>::bytes_for(m)
        + if v6 {
            ConnTable::<std::net::Ipv6Addr>::bytes_for(m)
        } else {
            0
        };
    let need = per.saturating_mul(n as u64);
    match mem {
        Some(mem) if need > mem => Err(format!(
            "--max-conns {m} needs {:.1} GiB of connection tables for {n} worker(s); this machine has {:.1} GiB",
            need as f64 / f64::from(1u32 << 30),
            mem as f64 / f64::from(1u32 << 30)
        )),
        _ => Ok(()),
    }
}

/// IPv6 needs an address on both NICs (a VIP's clients and its real servers
/// are of one family), and an IPv6 gateway needs the external address.
fn check_ipv6(opts: &RunOptions) -> Result<(), String> {
    match (opts.ext_net6, opts.int_net6) {
        (Some(e), None) => Err(format!(
            "--ext-addr {}/{} needs an IPv6 --int-addr too (the DIP of the real servers' \
             segment): IPv6 runs on both NICs or on neither",
            e.addr, e.len
        )),
        (None, Some(i)) => Err(format!(
            "--int-addr {}/{} needs an IPv6 --ext-addr too (the director's address on the \
             clients' segment): IPv6 runs on both NICs or on neither",
            i.addr, i.len
        )),
        (None, None) if opts.gateway6.is_some() => {
            Err("an IPv6 --gateway needs IPv6 --ext-addr and --int-addr".into())
        }
        _ => Ok(()),
    }
}

/// `--ext` and `--int`: two different NICs that exist.
fn discover_nics(opts: &RunOptions) -> Result<(NicInfo, NicInfo), RunError> {
    let ext = nic::discover(&opts.ext)?;
    let int = nic::discover(&opts.int)?;
    if ext.index == int.index {
        return Err(RunError::Invalid(
            "--ext and --int must be two different NICs".into(),
        ));
    }
    Ok((ext, int))
}

/// Claim NIC `name` for this director: an abstract Unix socket named after
/// it, which only one process of the network namespace can bind (NIC names
/// are per namespace too) and the kernel frees when the process ends,
/// however it ends. Another director on the NIC would get a fanout group of
/// its own and see (and answer, and forward) every frame again.
fn claim_nic(name: &str) -> Result<std::os::unix::net::UnixListener, RunError> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    let key = format!("ringvs/nic/{name}");
    let addr = SocketAddr::from_abstract_name(key.as_bytes())
        .map_err(|e| RunError::Invalid(format!("claiming {name}: {e}")))?;
    UnixListener::bind_addr(&addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => RunError::Invalid(format!(
            "{name} is used by another ringvs run in this network namespace"
        )),
        _ => RunError::Invalid(format!("claiming {name}: {e}")),
    })
}

/// A fresh secret per start for the fanout hash (std's RandomState is seeded
/// from the OS).
fn fanout_key() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32
}

/// What every worker knows of the director: its NICs, addresses and options.
fn worker_env(opts: &RunOptions, ext: &NicInfo, int: &NicInfo, fanout_key: u32) -> Env {
    Env {
        mac: [ext.mac, int.mac],
        mtu: [ext, int].map(|nic| super::mtu::clamp_mtu(nic, opts.io)),
        ext_net: opts.ext_net,
        gateway: opts.gateway,
        int_gateway: opts.int_gateway,
        int_net: opts.int_net,
        ext_net6: opts.ext_net6,
        gateway6: opts.gateway6,
        int_net6: opts.int_net6,
        io_only: opts.io_only,
        fanout_key,
        rss: None,
        sysctl: opts.sysctl,
        ftp: opts.ftp,
    }
}

/// One pinned thread per worker, started in worker order.
fn spawn_workers<R, T>(
    workers: Vec<Worker<R, T>>,
    (busy, rt): (bool, Option<u8>),
    cores: &[core_affinity::CoreId],
) -> Result<Vec<JoinHandle<()>>, RunError>
where
    R: RxQueue + Send + 'static,
    T: TxQueue + Send + 'static,
{
    let mut threads = Vec::with_capacity(workers.len());
    for (k, mut w) in workers.into_iter().enumerate() {
        let core = cores.get(k % cores.len().max(1)).copied();
        let t = std::thread::Builder::new()
            .name(format!("ringvs-w{k}"))
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                if let Some(p) = rt {
                    match crate::io::ring::set_fifo(p) {
                        Ok(()) => w.realtime = true,
                        Err(e) => crate::log!("ringvs: worker {k}: --rt-priority {p}: {e}"),
                    }
                }
                w.run(busy);
            })
            .map_err(|e| RunError::Invalid(format!("spawning worker {k}: {e}")))?;
        threads.push(t);
    }
    Ok(threads)
}

/// The health-check thread (`crate::health::run`); it republishes the
/// configuration whenever a server goes down or comes back.
fn start_health(ctl: &Arc<Ctl>, io: crate::health::HealthIo<TxRing>) -> Result<(), RunError> {
    let (mon, sh, c) = (
        Arc::clone(&ctl.health),
        Arc::clone(&ctl.shared),
        Arc::clone(ctl),
    );
    std::thread::Builder::new()
        .name("ringvs-health".into())
        .spawn(move || {
            let republish = || {
                if let Ok(mut st) = c.adm.lock() {
                    c.publish(&mut st);
                }
            };
            crate::health::run(mon, Arc::clone(&sh), io, republish, &sh.stop);
        })
        .map_err(|e| RunError::Invalid(format!("spawning health thread: {e}")))?;
    Ok(())
}

/// The line that tells the operator what runs where.
fn say_started(opts: &RunOptions, n: usize, ext: &NicInfo, int: &NicInfo) {
    let v6 = |p: Option<Prefix6>| p.map(|p| format!(" {}", p.addr)).unwrap_or_default();
    crate::log!(
        "ringvs: {n} worker(s) ({}) on {} ({}, {}{}) and {} ({}, DIP {}{}); control socket {}",
        match opts.io {
            IoBackend::Packet => "AF_PACKET",
            IoBackend::Xdp(_) => "AF_XDP",
        },
        ext.name,
        ext.mac,
        opts.ext_net.addr,
        v6(opts.ext_net6),
        int.name,
        int.mac,
        opts.int_net.addr,
        v6(opts.int_net6),
        opts.control.display()
    );
    if opts.ftp.on() {
        // As `ip_vs_ftp` says what it loaded ("ftp: loaded support on port[0] = 21").
        crate::log!("ringvs: ftp helper on port(s) {:?}", opts.ftp.list());
    }
}

/// A SIGINT or SIGTERM caught while starting ([`on_signals`]) ends the
/// start with [`RunError::Stopped`]; from the control socket on, the
/// neighbour loop sees it and the director stops as it would once running.
fn still_wanted(term: &AtomicBool) -> Result<(), RunError> {
    if term.load(Ordering::Relaxed) {
        return Err(RunError::Stopped);
    }
    Ok(())
}

/// SIGINT and SIGTERM set the flag returned; a second one, once it is set,
/// ends the process at once (exit 1), so a start or a stop that hangs (a
/// `--rules` FIFO nobody writes) still yields to a second Ctrl-C.
fn on_signals() -> Result<Arc<AtomicBool>, RunError> {
    let term = Arc::new(AtomicBool::new(false));
    let failed = |e: std::io::Error| RunError::Invalid(format!("installing signal handler: {e}"));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Before the flag's own handler: it sees the flag as the earlier
        // signal left it.
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&term))
            .map_err(failed)?;
        signal_hook::flag::register(sig, Arc::clone(&term)).map_err(failed)?;
    }
    Ok(term)
}

/// The control threads: the socket server, Prometheus metrics (if asked for;
/// its stop flag is returned) and the rate sampler.
fn start_services(
    listener: std::os::unix::net::UnixListener,
    metrics: Option<(std::net::SocketAddr, TcpListener)>,
    ctl: &Arc<Ctl>,
) -> Result<Option<Arc<AtomicBool>>, RunError> {
    let mut metrics_stop: Option<Arc<AtomicBool>> = None;
    server::start(listener, ctl)?;
    // Prometheus metrics (--metrics ADDR).
    if let Some(m) = metrics {
        metrics_stop = Some(report::serve_metrics(m, ctl)?);
    }
    report::start_sampler(ctl)?;
    Ok(metrics_stop)
}

/// Stop the workers and the metrics server, remove the control socket, and
/// say why the director stopped.
fn stop(
    shared: &Shared,
    metrics_stop: Option<Arc<AtomicBool>>,
    (threads, xdp, notify): (Vec<JoinHandle<()>>, Vec<XdpProgram>, JoinHandle<()>),
    socket_file: server::SocketFile,
    failed: Option<usize>,
) -> Result<(), RunError> {
    if let Some(m) = &metrics_stop {
        m.store(true, Ordering::Relaxed);
    }
    // The XDP programs go before the control socket does too: a supervisor
    // (or a test) takes the socket's disappearance to mean that the director
    // let go of everything.
    stop_workers(&shared.stop, threads, xdp);
    // Removes the notify FIFO it made.
    let _ = notify.join();
    drop(socket_file);
    if let Some(k) = failed {
        return Err(RunError::Invalid(format!(
            "worker {k} stopped unexpectedly; the director stopped with it"
        )));
    }
    crate::log!("ringvs: stopped");
    Ok(())
}

/// Detach the XDP programs (`xdp`), then stop the workers (`threads`, which
/// close their sockets as they exit): detached first, no frame is redirected
/// to a socket its worker no longer reads, and each worker forwards what its
/// RX rings already hold before it closes them (`Worker::drain_at_stop`; see
/// [`XdpProgram`]). The other way round, frames were lost in the RX rings of
/// stopped workers, and the program passed to the kernel the frames of each
/// queue whose socket had left its map.
fn stop_workers<X>(stop: &AtomicBool, threads: Vec<JoinHandle<()>>, xdp: X) {
    drop(xdp);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The XDP programs are detached before a worker sees the stop flag
    /// (and closes its sockets).
    #[test]
    fn xdp_programs_are_detached_before_the_workers_stop() {
        struct Program(Arc<std::sync::Mutex<Vec<&'static str>>>);
        impl Drop for Program {
            fn drop(&mut self) {
                self.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push("detach");
            }
        }
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push("sockets closed");
            })
        };
        stop_workers(&stop, vec![worker], Program(Arc::clone(&log)));
        let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(log, ["detach", "sockets closed"]);
    }

    #[test]
    fn a_nic_is_claimed_by_one_director_at_a_time() {
        let name = format!("rvtest{}", std::process::id());
        let first = claim_nic(&name).expect("free");
        let Err(RunError::Invalid(e)) = claim_nic(&name) else {
            panic!("claimed twice");
        };
        assert!(e.contains("used by another ringvs run"), "{e}");
        drop(first);
        assert!(claim_nic(&name).is_ok(), "free again once dropped");
    }

    /// `--max-conns` past the memory is refused with what it needs, where
    /// the tables' allocation would abort the process; the default fits.
    #[test]
    fn max_conns_past_the_memory_is_refused() {
        let gib = 1u64 << 30;
        let e = check_table_memory((1 << 30, false), 1, Some(24 * gib)).unwrap_err();
        assert!(e.starts_with("--max-conns 1073741824 needs"), "{e}");
        assert!(e.ends_with("this machine has 24.0 GiB"), "{e}");
        assert!(check_table_memory((1 << 18, true), 64, Some(24 * gib)).is_ok());
        // IPv6 tables count: 4M connections each for two workers fit one
        // family's tables in 1 GiB, not both.
        assert!(check_table_memory((1 << 22, false), 2, Some(gib)).is_ok());
        assert!(check_table_memory((1 << 22, true), 2, Some(gib)).is_err());
        assert!(
            check_table_memory((1 << 30, true), 8, None).is_ok(),
            "unknown"
        );
    }
}
