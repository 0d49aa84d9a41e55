//! The control plane: starting the director, the control socket, `adm` commands,
//! statistics, and the neighbor table.
//!
//! The control thread owns the configuration and the neighbor table. It publishes
//! immutable snapshots of both (`arc-swap`) and bumps an epoch that workers check
//! once per loop; it never touches a worker's connection table.

pub mod proto;

use crate::Nic;
use crate::config::ipvsadm::{self, AdmCommand};
use crate::config::{AdmError, Config, DestId};
use crate::io::fanout::Side;
use crate::io::nic::{self, NicError, NicInfo};
use crate::io::ring::xsk::{self, XdpMode, XdpProgram, XskRx, XskSize, XskTx};
use crate::io::ring::{Fanout, RingSize, RxRing, RxVersion, TxRing};
use crate::io::{RxQueue, TxQueue};
use crate::nat::{Snapshot, State, Timeouts};
use crate::neigh::{NeighEvent, NeighTable, Prefix, Probe};
use crate::stats::{Counters, Ctr};
use crate::wire::{Mac, arp};
use crate::worker::{Env, FRAME_MAX, Handoff, Links, Published, Shared, Worker};
use crossbeam_channel::{Sender, bounded};
use proto::{Command, Response};
use std::io::{BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Handoff frames in flight per worker at most.
pub const HANDOFF_DEPTH: usize = 64;
/// Control-socket clients served at once.
pub const MAX_CLIENTS: usize = 16;

/// How `ringvs run` was asked to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub ext: String,
    pub ext_net: Prefix,
    pub gateway: Option<Ipv4Addr>,
    pub int: String,
    pub int_net: Prefix,
    pub workers: Option<usize>,
    pub rules: Option<PathBuf>,
    pub control: PathBuf,
    pub busy_poll: bool,
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
    /// IPVS's `expire_nodest_conn` sysctl (see `worker::Env`).
    pub expire_nodest_conn: bool,
}

/// The packet I/O under the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoBackend {
    /// AF_PACKET `PACKET_MMAP` rings joined to a fanout group (any NIC, any number
    /// of workers; the kernel also sees every frame).
    Packet,
    /// AF_XDP sockets fed by an XDP redirect program: frames skip the kernel's
    /// stack. One worker per NIC receive queue.
    Xdp(XdpMode),
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Nic(#[from] NicError),
    #[error("opening the {what} ring on {nic}: {err} (ringvs needs root, CAP_NET_RAW)")]
    Ring {
        what: &'static str,
        nic: String,
        err: std::io::Error,
    },
    #[error("rules file {path}: {err}")]
    Rules { path: String, err: String },
    #[error("control socket {path}: {err}")]
    Socket { path: String, err: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

/// The configuration as the control thread keeps it.
struct AdmState {
    cfg: Config,
    timeouts: Timeouts,
}

/// What adm handlers share with the control loop.
struct Ctl {
    adm: Mutex<AdmState>,
    shared: Arc<Shared>,
    published: Vec<Arc<Published>>,
    /// New VIPs to announce with gratuitous ARP.
    garp_tx: Sender<Ipv4Addr>,
    clients: AtomicUsize,
}

impl Ctl {
    fn counts(&self, d: DestId) -> (u32, u32) {
        self.published.iter().fold((0, 0), |(a, i), p| {
            let (pa, pi) = p.gauges.get(d);
            (a + pa, i + pi)
        })
    }

    fn publish(&self, st: &AdmState) {
        self.shared
            .config
            .store(Arc::new(Snapshot::build(&st.cfg, st.timeouts)));
        self.shared.bump();
    }

    fn adm(&self, argv: &[String]) -> Response {
        let cmd = match ipvsadm::parse(argv) {
            Ok(c) => c,
            Err(AdmError::Help(text)) => return Response::ok(text),
            Err(e) => return Response::fail(e.exit_code(), e.to_string()),
        };
        let Ok(mut st) = self.adm.lock() else {
            return Response::fail(1, "internal error: configuration lock poisoned");
        };
        match cmd {
            AdmCommand::List { .. } | AdmCommand::Save { .. } => {
                match ipvsadm::list_output(&st.cfg, &cmd, &|d| self.counts(d)) {
                    Ok(text) => Response::ok(text.unwrap_or_default()),
                    Err(e) => Response::fail(e.exit_code(), e.to_string()),
                }
            }
            _ => {
                let before: Vec<Ipv4Addr> = vips(&st.cfg);
                if let Err(e) = ipvsadm::apply(&mut st.cfg, &cmd) {
                    return Response::fail(e.exit_code(), e.to_string());
                }
                self.publish(&st);
                for v in vips(&st.cfg) {
                    if !before.contains(&v) {
                        let _ = self.garp_tx.try_send(v);
                    }
                }
                Response::ok(String::new())
            }
        }
    }

    fn stats(&self, json: bool) -> Response {
        let per: Vec<Counters> = self
            .published
            .iter()
            .map(|p| p.counters.snapshot())
            .collect();
        let states: Vec<Vec<u64>> = self
            .published
            .iter()
            .map(|p| p.states.iter().map(|s| s.load(Ordering::Relaxed)).collect())
            .collect();
        let neigh = self.shared.neigh.load().len();
        if json {
            let workers: Vec<serde_json::Value> = per
                .iter()
                .zip(&states)
                .enumerate()
                .map(|(i, (c, s))| {
                    let mut m = serde_json::Map::new();
                    m.insert("worker".into(), i.into());
                    for ctr in Ctr::ALL {
                        m.insert(ctr.name().into(), c.get(*ctr).into());
                    }
                    let conns: serde_json::Map<String, serde_json::Value> = State::ALL
                        .iter()
                        .map(|st| (st.name().to_string(), s[*st as usize].into()))
                        .collect();
                    m.insert("conns".into(), conns.into());
                    serde_json::Value::Object(m)
                })
                .collect();
            let v = serde_json::json!({ "workers": workers, "neighbors": neigh });
            return Response::ok(format!("{v}\n"));
        }
        let mut out = String::new();
        out.push_str(&format!("{:<24}", "counter"));
        for i in 0..per.len() {
            out.push_str(&format!(" {:>12}", format!("worker{i}")));
        }
        out.push_str(&format!(" {:>12}\n", "total"));
        for ctr in Ctr::ALL {
            let vals: Vec<u64> = per.iter().map(|c| c.get(*ctr)).collect();
            let total: u64 = vals.iter().sum();
            out.push_str(&format!("{:<24}", ctr.name()));
            for v in &vals {
                out.push_str(&format!(" {v:>12}"));
            }
            out.push_str(&format!(" {total:>12}\n"));
        }
        for st in State::ALL {
            let vals: Vec<u64> = states.iter().map(|s| s[st as usize]).collect();
            out.push_str(&format!(
                "{:<24}",
                format!("conns_{}", st.name().to_lowercase())
            ));
            for v in &vals {
                out.push_str(&format!(" {v:>12}"));
            }
            out.push_str(&format!(" {:>12}\n", vals.iter().sum::<u64>()));
        }
        out.push_str(&format!("neighbors {neigh}\n"));
        Response::ok(out)
    }

    fn serve(&self, stream: UnixStream) {
        let _ = stream.set_read_timeout(Some(proto::IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(proto::IO_TIMEOUT));
        let mut reader = BufReader::new(&stream);
        let resp = match proto::read_request(&mut reader) {
            Ok(req) => match req.cmd {
                Command::Adm { argv } => self.adm(&argv),
                Command::Stats { json } => self.stats(json),
            },
            Err(r) => r,
        };
        if let Ok(mut line) = serde_json::to_string(&resp) {
            line.push('\n');
            let _ = (&stream).write_all(line.as_bytes());
        }
    }
}

/// The MTU the data plane enforces: the NIC's, but no more than a ring slot holds.
fn clamp_mtu(nic: &NicInfo, io: IoBackend) -> usize {
    let frame_max = match io {
        IoBackend::Packet => crate::io::ring::TX_FRAME_MAX,
        IoBackend::Xdp(_) => crate::io::ring::xsk::RX_FRAME_MAX,
    };
    let max = frame_max - crate::wire::ethernet::HEADER_LEN;
    if nic.mtu > max {
        eprintln!(
            "ringvs: {} has MTU {}; frames above {max} bytes of IP are dropped (drop_oversize)",
            nic.name, nic.mtu
        );
    }
    nic.mtu.min(max)
}

fn vips(cfg: &Config) -> Vec<Ipv4Addr> {
    cfg.services().iter().map(|s| s.key.addr).collect()
}

/// Load an `ipvsadm -S` rules file into `cfg`.
pub fn load_rules(cfg: &mut Config, path: &std::path::Path) -> Result<(), RunError> {
    let err = |e: String| RunError::Rules {
        path: path.display().to_string(),
        err: e,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    for cmd in ipvsadm::parse_rules(&text).map_err(|e| err(e.to_string()))? {
        ipvsadm::apply(cfg, &cmd).map_err(|e| err(e.to_string()))?;
    }
    Ok(())
}

/// An ARP frame from the director: a request for `probe`, or gratuitous for `ip`.
fn arp_frame(mac: Mac, sip: Ipv4Addr, tip: Ipv4Addr, to: Option<Mac>) -> ([u8; 64], usize) {
    let mut buf = [0u8; 64];
    let len = arp::emit_arp(
        &mut buf,
        arp::operation::REQUEST,
        mac,
        sip,
        Mac([0; 6]),
        tip,
        to.unwrap_or(Mac::BROADCAST),
    );
    (buf, len.max(60))
}

/// Run the director in the foreground until SIGINT or SIGTERM.
pub fn run(opts: RunOptions) -> Result<(), RunError> {
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
    let n = opts.workers.unwrap_or(cores.len()).max(1);
    if opts.burst == 0 {
        return Err(RunError::Invalid("--burst must be at least 1".into()));
    }
    if matches!(opts.io, IoBackend::Xdp(_)) && n != 1 {
        return Err(RunError::Invalid(format!(
            "--io xdp runs one worker (only the AF_PACKET fanout keeps both directions of a flow on one worker); use --workers 1, not {n}"
        )));
    }
    if opts.max_conns == 0 || opts.max_conns > crate::nat::table::MAX_CONNS {
        return Err(RunError::Invalid(format!(
            "--max-conns must be 1..={}",
            crate::nat::table::MAX_CONNS
        )));
    }
    let ext = nic::discover(&opts.ext)?;
    let int = nic::discover(&opts.int)?;
    if ext.index == int.index {
        return Err(RunError::Invalid(
            "--ext and --int must be two different NICs".into(),
        ));
    }
    let mut adm = AdmState {
        cfg: Config::new(),
        timeouts: Timeouts::default(),
    };
    if let Some(path) = &opts.rules {
        load_rules(&mut adm.cfg, path)?;
    }
    let shared = Arc::new(Shared::new(Snapshot::build(&adm.cfg, adm.timeouts)));
    // A fresh secret per start for the fanout hash (std's RandomState is seeded
    // from the OS).
    let fanout_key = {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish() as u32
    };
    let env = Arc::new(Env {
        mac: [ext.mac, int.mac],
        mtu: [clamp_mtu(&ext, opts.io), clamp_mtu(&int, opts.io)],
        ext_net: opts.ext_net,
        gateway: opts.gateway,
        int_net: opts.int_net,
        io_only: opts.io_only,
        fanout_key,
        expire_nodest_conn: opts.expire_nodest_conn,
    });

    let size = RingSize::new(opts.ring_blocks);
    let open_tx = |info: &NicInfo, size: RingSize| {
        TxRing::open(info.index, size).map_err(|err| RunError::Ring {
            what: "TX",
            nic: info.name.clone(),
            err,
        })
    };
    // The control thread's own sockets (ARP probes, gratuitous ARP): AF_PACKET
    // whatever the workers use.
    let mut ctl_tx = [
        open_tx(&ext, RingSize::new(1))?,
        open_tx(&int, RingSize::new(1))?,
    ];
    let queues = match opts.io {
        IoBackend::Packet => Queues::Packet(open_packet(&opts, n, &ext, &int, size, fanout_key)?),
        IoBackend::Xdp(mode) => Queues::Xdp(open_xdp(&ext, &int, size, mode)?),
    };

    let (neigh_tx, neigh_rx) = bounded::<NeighEvent>(4096);
    let (handoff_txs, handoff_rxs): (Vec<Sender<_>>, Vec<_>) = (0..n)
        .map(|_| bounded::<Box<Handoff>>(HANDOFF_DEPTH))
        .unzip();
    let published: Vec<Arc<Published>> = (0..n).map(|_| Arc::new(Published::default())).collect();

    let (garp_tx, garp_rx) = bounded::<Ipv4Addr>(256);
    let ctl = Arc::new(Ctl {
        adm: Mutex::new(adm),
        shared: Arc::clone(&shared),
        published: published.clone(),
        garp_tx,
        clients: AtomicUsize::new(0),
    });

    let listener = bind_control(&opts.control)?;
    let start = Instant::now();
    let spawn = Spawn {
        n,
        env: &env,
        shared: &shared,
        published: &published,
        handoff_txs,
        handoff_rxs,
        neigh_tx: &neigh_tx,
        max_conns: opts.max_conns,
        burst: opts.burst,
        busy: opts.busy_poll,
        cores: &cores,
        start,
    };
    // Keep the XDP programs attached for as long as the workers run.
    let (threads, _xdp) = match queues {
        Queues::Packet(q) => (spawn.workers(q.ext, q.int)?, Vec::new()),
        Queues::Xdp(q) => (spawn.workers(q.ext, q.int)?, q.programs),
    };
    drop(neigh_tx);
    eprintln!(
        "ringvs: {n} worker(s) ({}) on {} ({}, {}) and {} ({}, DIP {}); control socket {}",
        match opts.io {
            IoBackend::Packet => "AF_PACKET",
            IoBackend::Xdp(_) => "AF_XDP",
        },
        ext.name,
        ext.mac,
        opts.ext_net.addr,
        int.name,
        int.mac,
        opts.int_net.addr,
        opts.control.display()
    );

    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&term))
            .map_err(|e| RunError::Invalid(format!("installing signal handler: {e}")))?;
    }

    // Accept control clients on their own thread; each client gets a short-lived
    // thread so a slow one never blocks another or the control loop.
    {
        let ctl = Arc::clone(&ctl);
        std::thread::Builder::new()
            .name("ringvs-ctl".into())
            .spawn(move || accept_loop(listener, ctl))
            .map_err(|e| RunError::Invalid(format!("spawning control thread: {e}")))?;
    }

    // Announce our addresses.
    let macs = [ext.mac, int.mac];
    let own = [opts.ext_net.addr, opts.int_net.addr];
    let garp = |tx: &mut TxRing, mac: Mac, ip: Ipv4Addr| {
        let (f, len) = arp_frame(mac, ip, ip, None);
        tx.send_one(&f[..len]);
    };
    garp(&mut ctl_tx[0], ext.mac, opts.ext_net.addr);
    garp(&mut ctl_tx[1], int.mac, opts.int_net.addr);
    if let Ok(st) = ctl.adm.lock() {
        for v in vips(&st.cfg) {
            garp(&mut ctl_tx[0], ext.mac, v);
        }
    }

    let mut table = NeighTable::new();
    let mut probes: Vec<Probe> = Vec::new();
    let mut last_tick = Instant::now();
    let mut failed = None;
    while !term.load(Ordering::Relaxed) {
        if let Some(k) = threads.iter().position(|t| t.is_finished()) {
            failed = Some(k);
            break;
        }
        let now = Instant::now();
        match neigh_rx.recv_timeout(Duration::from_millis(20)) {
            Ok(ev) => {
                probes.extend(table.event(ev, now));
                while let Ok(ev) = neigh_rx.try_recv() {
                    probes.extend(table.event(ev, now));
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if now.duration_since(last_tick) >= Duration::from_millis(100) {
            last_tick = now;
            table.tick(now, &mut probes);
        }
        for p in probes.drain(..) {
            let i = p.nic as usize;
            let (f, len) = arp_frame(macs[i], own[i], Ipv4Addr::from(p.ip), p.to);
            ctl_tx[i].send_one(&f[..len]);
        }
        while let Ok(v) = garp_rx.try_recv() {
            garp(&mut ctl_tx[0], ext.mac, v);
        }
        if let Some(snap) = table.take_snapshot() {
            shared.neigh.store(Arc::new(snap));
            shared.bump();
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let _ = std::fs::remove_file(&opts.control);
    if let Some(k) = failed {
        return Err(RunError::Invalid(format!(
            "worker {k} stopped unexpectedly; the director stopped with it"
        )));
    }
    eprintln!("ringvs: stopped");
    Ok(())
}

/// Every worker's queues on both NICs, in worker order.
struct WorkerQueues<R, T> {
    ext: Vec<(R, T)>,
    int: Vec<(R, T)>,
}

struct XdpQueues {
    ext: Vec<(XskRx, XskTx)>,
    int: Vec<(XskRx, XskTx)>,
    programs: Vec<XdpProgram>,
}

enum Queues {
    Packet(WorkerQueues<RxRing, TxRing>),
    Xdp(XdpQueues),
}

/// AF_PACKET: every worker's ext RX socket joins the ext fanout group, then every
/// int one the int group, in worker order, so member k of both groups is worker k.
fn open_packet(
    opts: &RunOptions,
    n: usize,
    ext: &NicInfo,
    int: &NicInfo,
    size: RingSize,
    key: u32,
) -> Result<WorkerQueues<RxRing, TxRing>, RunError> {
    let open = |info: &NicInfo, side: Side| -> Result<Vec<(RxRing, TxRing)>, RunError> {
        let ring_err = |what: &'static str| {
            let nic = info.name.clone();
            move |err| RunError::Ring { what, nic, err }
        };
        let mut group = 0;
        (0..n)
            .map(|_| {
                let fanout = Fanout {
                    id: group,
                    side,
                    key,
                };
                let (r, g) = RxRing::open(info.index, opts.rx_version, size, Some(fanout))
                    .map_err(ring_err("RX"))?;
                group = g;
                let t = TxRing::open(info.index, size).map_err(ring_err("TX"))?;
                Ok((r, t))
            })
            .collect()
    };
    let mut q = WorkerQueues {
        ext: open(ext, Side::Ext)?,
        int: open(int, Side::Int)?,
    };
    // Frames that reached a socket before the whole group had joined went to the
    // wrong member: give them back.
    for (r, _) in q.ext.iter_mut().chain(q.int.iter_mut()) {
        r.discard_ready();
    }
    Ok(q)
}

/// AF_XDP: one worker (checked by `run`: a flow's two directions must reach the
/// same worker, which only the AF_PACKET fanout program guarantees) on receive
/// queue 0 of each NIC; the NICs must have one receive queue each (a frame on a
/// queue without a socket would go to the kernel instead of the worker).
fn open_xdp(
    ext: &NicInfo,
    int: &NicInfo,
    size: RingSize,
    mode: XdpMode,
) -> Result<XdpQueues, RunError> {
    let entries = XskSize::new(size.block_size / size.frame_size * size.block_nr);
    let mut q = XdpQueues {
        ext: Vec::new(),
        int: Vec::new(),
        programs: Vec::new(),
    };
    for (info, out) in [(ext, &mut q.ext), (int, &mut q.int)] {
        let err = |what: &'static str| {
            let nic = info.name.clone();
            move |err| RunError::Ring { what, nic, err }
        };
        let rxq = nic::rx_queues(&info.name);
        if rxq != 1 {
            return Err(RunError::Invalid(format!(
                "--io xdp needs one receive queue on {}, it has {rxq} (ethtool -L {} combined 1)",
                info.name, info.name
            )));
        }
        let index = u32::try_from(info.index)
            .map_err(|_| RunError::Invalid(format!("bad ifindex for {}", info.name)))?;
        let prog = XdpProgram::attach(index, mode).map_err(err("XDP program"))?;
        let (rx, tx) = xsk::open(index, 0, entries).map_err(err("AF_XDP socket"))?;
        prog.register(0, &rx).map_err(err("XDP socket map"))?;
        out.push((rx, tx));
        q.programs.push(prog);
    }
    Ok(q)
}

/// What every worker is started with.
struct Spawn<'a> {
    n: usize,
    env: &'a Arc<Env>,
    shared: &'a Arc<Shared>,
    published: &'a [Arc<Published>],
    handoff_txs: Vec<Sender<Box<Handoff>>>,
    handoff_rxs: Vec<crossbeam_channel::Receiver<Box<Handoff>>>,
    neigh_tx: &'a Sender<NeighEvent>,
    max_conns: usize,
    burst: usize,
    busy: bool,
    cores: &'a [core_affinity::CoreId],
    start: Instant,
}

impl Spawn<'_> {
    /// Start one pinned worker thread per queue pair.
    fn workers<R, T>(
        self,
        ext: Vec<(R, T)>,
        int: Vec<(R, T)>,
    ) -> Result<Vec<std::thread::JoinHandle<()>>, RunError>
    where
        R: RxQueue + Send + 'static,
        T: TxQueue + Send + 'static,
    {
        let n = self.n;
        let mut threads = Vec::with_capacity(n);
        // One pool of handoff boxes for all workers: a box returns to the pool
        // whoever used it, so handing off never allocates.
        let (pool_tx, pool_rx) = bounded::<Box<Handoff>>(HANDOFF_DEPTH * n);
        for _ in 0..HANDOFF_DEPTH * n {
            let _ = pool_tx.try_send(Box::new(Handoff {
                nic: Nic::Ext,
                len: 0,
                csum_partial: false,
                data: [0; FRAME_MAX],
            }));
        }
        let queues = ext.into_iter().zip(int).zip(self.handoff_rxs);
        for (k, ((ext, int), hrx)) in queues.enumerate() {
            let links = Links {
                handoff_rx: hrx,
                handoff_tx: self.handoff_txs.clone(),
                pool_rx: pool_rx.clone(),
                pool_tx: pool_tx.clone(),
                neigh_tx: self.neigh_tx.clone(),
            };
            let mut w = Worker::new(
                k,
                n,
                ext,
                int,
                Arc::clone(self.env),
                Arc::clone(self.shared),
                Arc::clone(&self.published[k]),
                links,
                self.max_conns,
                self.start,
            );
            w.core.burst = self.burst;
            let core = self.cores.get(k % self.cores.len().max(1)).copied();
            let busy = self.busy;
            let t = std::thread::Builder::new()
                .name(format!("ringvs-w{k}"))
                .spawn(move || {
                    if let Some(c) = core {
                        core_affinity::set_for_current(c);
                    }
                    w.run(busy);
                })
                .map_err(|e| RunError::Invalid(format!("spawning worker {k}: {e}")))?;
            threads.push(t);
        }
        Ok(threads)
    }
}

fn bind_control(path: &std::path::Path) -> Result<UnixListener, RunError> {
    let err = |e| RunError::Socket {
        path: path.display().to_string(),
        err: e,
    };
    // A socket file left by a director that died: replace it, but never steal the
    // socket of one that is alive.
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another director is listening there (use --control PATH)",
            )));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    // Bind under a temporary name, restrict it to root, then move it into place:
    // the socket is never reachable with the umask's looser mode.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let l = UnixListener::bind(&tmp).map_err(err)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(l)
}

fn accept_loop(listener: UnixListener, ctl: Arc<Ctl>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // EMFILE and friends: don't spin.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if ctl.clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
            ctl.clients.fetch_sub(1, Ordering::AcqRel);
            let r = Response::fail(1, "director busy: too many control clients");
            if let Ok(mut line) = serde_json::to_string(&r) {
                line.push('\n');
                let _ = (&stream).write_all(line.as_bytes());
            }
            continue;
        }
        let c = Arc::clone(&ctl);
        let spawned = std::thread::Builder::new()
            .name("ringvs-client".into())
            .spawn(move || {
                c.serve(stream);
                c.clients.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            ctl.clients.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
