//! The control plane: starting the director, the control socket, `adm` commands,
//! statistics, and the neighbor table.
//!
//! The control thread owns the configuration and the neighbor table. It publishes
//! immutable snapshots of both (`arc-swap`) and bumps an epoch that workers check
//! once per loop; it never touches a worker's connection table.

pub mod proto;

use crate::Nic;
use crate::config::format::{self, Live};
use crate::config::ipvsadm::{self, AdmCommand, ListOpts};
use crate::config::names::Names;
use crate::config::{AdmError, Config, DestId, ServiceKey};
use crate::io::fanout::Side;
use crate::io::nic::{self, NicError, NicInfo};
use crate::io::ring::{Fanout, RingSize, RxRing, RxVersion, TxRing};
use crate::io::xdp::{self, XdpMode, XdpProgram, XskRx, XskSize, XskTx};
use crate::io::{RxQueue, TxQueue};
use crate::nat::{ConnInfo, Snapshot, State, Timeouts};
use crate::neigh::{NeighEvent, NeighTable, Prefix, Probe};
use crate::stats::{Counters, Ctr, DestStats};
use crate::wire::{Mac, arp};
use crate::worker::{Env, FRAME_MAX, Handoff, Links, Published, Shared, Worker};
use crossbeam_channel::{Sender, bounded};
use proto::{Command, Response};
use std::collections::HashMap;
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
    /// Serve Prometheus metrics over HTTP here (`--metrics`).
    pub metrics: Option<std::net::SocketAddr>,
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
    /// Per-real-server counters at the last `-Z` (listings subtract them).
    zero: Mutex<HashMap<DestId, DestStats>>,
    /// Rate estimates, updated by the sampler thread.
    est: Mutex<Estimator>,
    /// Health checks: what to check, and who is down (`crate::health`).
    health: Arc<crate::health::Monitor>,
}

/// How often the rate estimator samples the counters, as IPVS's estimator.
pub const RATE_INTERVAL: Duration = Duration::from_secs(2);
/// How long `-L -c` waits for the workers' connection listings.
pub const CONNS_WAIT: Duration = Duration::from_secs(1);

/// IPVS's rate estimator: every [`RATE_INTERVAL`] the change of each real
/// server's counters gives a rate per second, and the shown rate moves a
/// quarter of the way towards it (`avg += (rate - avg) / 4`).
#[derive(Default)]
struct Estimator {
    /// Counters at the last sample.
    last: HashMap<DestId, DestStats>,
    /// Smoothed rates per second: conns, inpkts, outpkts, inbytes, outbytes.
    avg: HashMap<DestId, [f64; 5]>,
}

fn fields(s: &DestStats) -> [u64; 5] {
    [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
}

impl Estimator {
    /// Takes a sample of every live real server; forgets the others.
    fn sample(&mut self, now: &HashMap<DestId, DestStats>, secs: f64) {
        self.avg.retain(|id, _| now.contains_key(id));
        self.last.retain(|id, _| now.contains_key(id));
        for (id, cur) in now {
            let Some(prev) = self.last.insert(*id, *cur) else {
                continue;
            };
            let avg = self.avg.entry(*id).or_default();
            for (a, (c, p)) in avg
                .iter_mut()
                .zip(fields(cur).into_iter().zip(fields(&prev)))
            {
                let rate = c.saturating_sub(p) as f64 / secs;
                *a += (rate - *a) / 4.0;
            }
        }
    }

    fn rate(&self, id: DestId) -> DestStats {
        let a = self.avg.get(&id).copied().unwrap_or_default();
        let r = |x: f64| x.round().max(0.0) as u64;
        DestStats {
            conns: r(a[0]),
            inpkts: r(a[1]),
            outpkts: r(a[2]),
            inbytes: r(a[3]),
            outbytes: r(a[4]),
        }
    }

    /// `-Z`: the rates of `ids` start again from zero.
    fn zero(&mut self, ids: &[DestId]) {
        for id in ids {
            self.avg.remove(id);
        }
    }
}

fn sub(a: &DestStats, b: &DestStats) -> DestStats {
    DestStats {
        conns: a.conns.saturating_sub(b.conns),
        inpkts: a.inpkts.saturating_sub(b.inpkts),
        outpkts: a.outpkts.saturating_sub(b.outpkts),
        inbytes: a.inbytes.saturating_sub(b.inbytes),
        outbytes: a.outbytes.saturating_sub(b.outbytes),
    }
}

fn dest_ids(cfg: &Config, only: Option<&ServiceKey>) -> Vec<DestId> {
    cfg.services()
        .iter()
        .filter(|s| only.is_none_or(|k| s.key == *k))
        .flat_map(|s| s.dests.iter().map(|d| d.id))
        .collect()
}

impl Ctl {
    fn counts(&self, d: DestId) -> (u32, u32) {
        self.published.iter().fold((0, 0), |(a, i), p| {
            let (pa, pi) = p.gauges.get(d);
            (a + pa, i + pi)
        })
    }

    /// A real server's counters summed over the workers, since start.
    fn raw_stats(&self, d: DestId) -> DestStats {
        let mut t = DestStats::default();
        for p in &self.published {
            t.add(&p.dest_stats(d));
        }
        t
    }

    /// A real server's counters since the last `-Z`.
    fn stats_since_zero(&self, d: DestId, zero: &HashMap<DestId, DestStats>) -> DestStats {
        let raw = self.raw_stats(d);
        zero.get(&d).map_or(raw, |z| sub(&raw, z))
    }

    /// One rate-estimator tick (the sampler thread calls it every
    /// [`RATE_INTERVAL`]).
    fn sample_rates(&self, secs: f64) {
        let ids = match self.adm.lock() {
            Ok(st) => dest_ids(&st.cfg, None),
            Err(_) => return,
        };
        let now: HashMap<DestId, DestStats> =
            ids.into_iter().map(|id| (id, self.raw_stats(id))).collect();
        if let Ok(mut e) = self.est.lock() {
            e.sample(&now, secs);
        }
    }

    /// Every worker's connection listing; workers that do not answer within
    /// [`CONNS_WAIT`] are left out.
    fn connections(&self) -> Vec<ConnInfo> {
        for p in &self.published {
            p.request_conns();
        }
        let deadline = Instant::now() + CONNS_WAIT;
        let mut pending: Vec<&Arc<Published>> = self.published.iter().collect();
        let mut all = Vec::new();
        loop {
            pending.retain(|p| match p.take_conns() {
                Some(v) => {
                    all.extend(v);
                    false
                }
                None => true,
            });
            if pending.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        all
    }

    /// Publishes the configuration as the data plane should run it: the rules
    /// less the servers health checks hold down.
    fn publish(&self, st: &AdmState) {
        self.health.set_targets(crate::health::targets(&st.cfg));
        let down = self.health.down();
        let run = crate::health::effective(&st.cfg, &down, false);
        self.shared
            .config
            .store(Arc::new(Snapshot::build(&run, st.timeouts)));
        self.shared.bump();
    }

    /// After a change: publish, announce new VIPs, forget zero baselines of
    /// real servers that are gone.
    fn changed(&self, st: &AdmState, before: &[Ipv4Addr]) {
        self.publish(st);
        for v in vips(&st.cfg) {
            if !before.contains(&v) {
                let _ = self.garp_tx.try_send(v);
            }
        }
        let live: hashbrown::HashSet<DestId> = dest_ids(&st.cfg, None).into_iter().collect();
        if let Ok(mut z) = self.zero.lock() {
            z.retain(|id, _| live.contains(id));
        }
    }

    fn list(&self, o: &ListOpts, names: &Names) -> Response {
        // Ask the workers before taking the lock: it may take a while.
        let conns = if o.connections || o.persistent_conn {
            self.connections()
        } else {
            Vec::new()
        };
        let Ok(st) = self.adm.lock() else {
            return Response::fail(1, "internal error: configuration lock poisoned");
        };
        let zero = self.zero.lock().map(|z| z.clone()).unwrap_or_default();
        let est = self.est.lock();
        let no_est = Estimator::default();
        let est = est.as_deref().unwrap_or(&no_est);
        let t = &st.timeouts;
        let live = Live {
            gauges: &|d| self.counts(d),
            stats: &|d| self.stats_since_zero(d, &zero),
            rates: &|d| est.rate(d),
            conns: &conns,
            timeouts: [
                t.secs(State::Established),
                t.secs(State::FinWait),
                t.secs(State::Udp),
            ],
        };
        // Servers held down by health checks are listed with weight 0.
        let shown = crate::health::effective(&st.cfg, &self.health.down(), true);
        match format::format_list(&shown, o, &live, names) {
            Ok(text) => Response::ok(text),
            // ipvsadm's list_service ends with exit(1) here, not the -1 (255)
            // of a failed change.
            Err(e @ AdmError::NoSuchService) => Response::fail(1, e.to_string()),
            Err(e) => Response::fail(e.exit_code(), e.to_string()),
        }
    }

    fn adm(&self, argv: &[String]) -> Response {
        let names = Names::system();
        let cmd = match ipvsadm::parse_with(argv, &names) {
            Ok(c) => c,
            Err(AdmError::Help(text)) => return Response::ok(text),
            Err(e) => return Response::fail(e.exit_code(), e.to_string()),
        };
        if let AdmCommand::List(o) = &cmd {
            return self.list(o, &names);
        }
        let Ok(mut st) = self.adm.lock() else {
            return Response::fail(1, "internal error: configuration lock poisoned");
        };
        match cmd {
            AdmCommand::Save { numeric } => {
                Response::ok(format::format_save(&st.cfg, numeric, &names))
            }
            AdmCommand::Restore => Response::fail(
                2,
                "-R needs the rules on standard input (ringvs adm -R < FILE)",
            ),
            AdmCommand::Zero { service } => {
                if let Err(e) = ipvsadm::apply(&mut st.cfg, &cmd) {
                    return Response::fail(e.exit_code(), e.to_string());
                }
                let ids = dest_ids(&st.cfg, service.as_ref());
                if let Ok(mut z) = self.zero.lock() {
                    for id in &ids {
                        z.insert(*id, self.raw_stats(*id));
                    }
                }
                if let Ok(mut e) = self.est.lock() {
                    e.zero(&ids);
                }
                Response::ok(String::new())
            }
            AdmCommand::SetTimeout { tcp, tcpfin, udp } => {
                st.timeouts.set(tcp, tcpfin, udp);
                self.publish(&st);
                Response::ok(String::new())
            }
            _ => {
                let before: Vec<Ipv4Addr> = vips(&st.cfg);
                if let Err(e) = ipvsadm::apply(&mut st.cfg, &cmd) {
                    return Response::fail(e.exit_code(), e.to_string());
                }
                self.changed(&st, &before);
                Response::ok(String::new())
            }
        }
    }

    /// `ipvsadm -R`: see [`ipvsadm::restore`].
    fn restore(&self, rules: &str) -> Response {
        let names = Names::system();
        let Ok(mut guard) = self.adm.lock() else {
            return Response::fail(1, "internal error: configuration lock poisoned");
        };
        let st = &mut *guard;
        let before: Vec<Ipv4Addr> = vips(&st.cfg);
        let mut timeouts = st.timeouts;
        let r = ipvsadm::restore(&mut st.cfg, rules, &names, &mut |a, b, c| {
            timeouts.set(a, b, c)
        });
        st.timeouts = timeouts;
        match r {
            Err(e) => Response::fail(e.exit_code(), e.to_string()),
            Ok(errors) => {
                self.changed(st, &before);
                if errors.is_empty() {
                    Response::ok(String::new())
                } else {
                    Response::fail(255, errors.join("\n"))
                }
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
            let tap = &self.shared.health;
            let health = serde_json::json!({
                "diverted": tap.diverted.load(Ordering::Relaxed),
                "dropped": tap.dropped.load(Ordering::Relaxed),
            });
            let (per_batch, all_batch) = self.batch_summaries();
            let workers: Vec<serde_json::Value> = workers
                .into_iter()
                .zip(per_batch)
                .map(|(mut w, b)| {
                    w["batch_us"] = serde_json::json!(b);
                    w
                })
                .collect();
            let v = serde_json::json!({
                "workers": workers,
                "neighbors": neigh,
                "batch_us": all_batch,
                "health": health,
            });
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
        let (per_batch, all_batch) = self.batch_summaries();
        type Pick = fn(&crate::stats::BatchSummary) -> f64;
        let rows: [(&str, Pick); 4] = [
            ("batch_us_p50", |b| b.p50_us),
            ("batch_us_p99", |b| b.p99_us),
            ("batch_us_p99.9", |b| b.p999_us),
            ("batch_us_max", |b| b.max_us),
        ];
        for (name, pick) in rows {
            out.push_str(&format!("{name:<24}"));
            for b in per_batch.iter().chain([&all_batch]) {
                out.push_str(&format!(" {:>12.1}", pick(b)));
            }
            out.push('\n');
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
                Command::Restore { rules } => self.restore(&rules),
                Command::Stats { json } => self.stats(json),
                Command::Capture {
                    nic,
                    dir,
                    filter,
                    count,
                } => return self.capture(&stream, &nic, &dir, &filter, count),
                Command::Trace { filter, count } => return self.trace(&stream, &filter, count),
            },
            Err(r) => r,
        };
        if let Ok(mut line) = serde_json::to_string(&resp) {
            line.push('\n');
            let _ = (&stream).write_all(line.as_bytes());
        }
    }
}

// ---- `ringvs capture` / `ringvs trace`: the connection becomes a stream.
impl Ctl {
    /// `--metrics`: every figure of `stats` and the per-server counters and gauges
    /// of `-L --stats`, in Prometheus' text format.
    fn metrics(&self) -> String {
        let mut t = crate::observe::metrics::Text::default();
        for (i, p) in self.published.iter().enumerate() {
            let w = i.to_string();
            let c = p.counters.snapshot();
            for ctr in Ctr::ALL {
                let name = format!("ringvs_{}_total", ctr.name());
                t.sample(
                    &name,
                    "counter",
                    ctr.doc(),
                    &[("worker", &w)],
                    c.get(*ctr) as f64,
                );
            }
            for st in State::ALL {
                let n = p.states[st as usize].load(Ordering::Relaxed);
                t.sample(
                    "ringvs_conns",
                    "gauge",
                    "Connections in the worker's table, by state.",
                    &[("worker", &w), ("state", st.name())],
                    n as f64,
                );
            }
        }
        let (per, _) = self.batch_summaries();
        for (i, b) in per.iter().enumerate() {
            let w = i.to_string();
            for (q, v) in [
                ("0.5", b.p50_us),
                ("0.99", b.p99_us),
                ("0.999", b.p999_us),
                ("1", b.max_us),
            ] {
                t.sample(
                    "ringvs_batch_seconds",
                    "summary",
                    "Time a worker spends on one non-empty batch.",
                    &[("worker", &w), ("quantile", q)],
                    v / 1e6,
                );
            }
            t.sample(
                "ringvs_batch_seconds_count",
                "counter",
                "Batches recorded.",
                &[("worker", &w)],
                b.batches as f64,
            );
        }
        t.sample(
            "ringvs_neighbors",
            "gauge",
            "Resolved neighbors.",
            &[],
            self.shared.neigh.load().len() as f64,
        );
        let st = self
            .adm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for svc in st.cfg.services() {
            let service = format!("{}:{}", svc.key.addr, svc.key.port);
            let proto = svc.key.proto.name().to_lowercase();
            for d in &svc.dests {
                let server = format!("{}:{}", d.addr, d.port);
                let l = [
                    ("proto", proto.as_str()),
                    ("service", service.as_str()),
                    ("server", server.as_str()),
                ];
                let s = self.raw_stats(d.id);
                let (active, inactive) = self.counts(d.id);
                for (name, help, v) in [
                    (
                        "ringvs_server_conns_total",
                        "Connections scheduled to the real server.",
                        s.conns,
                    ),
                    (
                        "ringvs_server_in_packets_total",
                        "Packets client -> real server.",
                        s.inpkts,
                    ),
                    (
                        "ringvs_server_out_packets_total",
                        "Packets real server -> client.",
                        s.outpkts,
                    ),
                    (
                        "ringvs_server_in_bytes_total",
                        "IP bytes client -> real server.",
                        s.inbytes,
                    ),
                    (
                        "ringvs_server_out_bytes_total",
                        "IP bytes real server -> client.",
                        s.outbytes,
                    ),
                ] {
                    t.sample(name, "counter", help, &l, v as f64);
                }
                t.sample(
                    "ringvs_server_active_conns",
                    "gauge",
                    "ActiveConn of ipvsadm -L.",
                    &l,
                    f64::from(active),
                );
                t.sample(
                    "ringvs_server_inactive_conns",
                    "gauge",
                    "InActConn of ipvsadm -L.",
                    &l,
                    f64::from(inactive),
                );
                t.sample(
                    "ringvs_server_weight",
                    "gauge",
                    "Weight.",
                    &l,
                    f64::from(d.weight),
                );
            }
        }
        t.finish()
    }

    /// Batch-time percentiles per worker and over all workers.
    fn batch_summaries(&self) -> (Vec<crate::stats::BatchSummary>, crate::stats::BatchSummary) {
        let hs: Vec<_> = self.published.iter().map(|p| p.batch.snapshot()).collect();
        let per = hs
            .iter()
            .map(|h| crate::stats::batch_summary([h]))
            .collect();
        (per, crate::stats::batch_summary(&hs))
    }

    fn capture(&self, stream: &UnixStream, nic: &str, dir: &str, filter: &str, count: u64) {
        crate::observe::stream::serve_capture(&self.shared, stream, nic, dir, filter, count);
    }

    fn trace(&self, stream: &UnixStream, filter: &str, count: u64) {
        let sched = |proto: u8, vip: u32, port: u16| {
            let st = self
                .adm
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st.cfg
                .services()
                .iter()
                .find(|s| {
                    s.key.proto.number() == proto
                        && u32::from(s.key.addr) == vip
                        && s.key.port == port
                })
                .map(|s| s.sched.name())
        };
        crate::observe::stream::serve_trace(&self.shared, stream, filter, count, &sched);
    }
}

/// The MTU the data plane enforces: the NIC's, but no more than a ring slot holds.
fn clamp_mtu(nic: &NicInfo, io: IoBackend) -> usize {
    let frame_max = match io {
        IoBackend::Packet => crate::io::ring::TX_FRAME_MAX,
        IoBackend::Xdp(_) => crate::io::xdp::RX_FRAME_MAX,
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
    let names = Names::system();
    let cmds = ipvsadm::parse_rules_with(&text, &names).map_err(|e| err(e.to_string()))?;
    for (cmd, (line, _)) in cmds.iter().zip(ipvsadm::rule_lines(&text)) {
        ipvsadm::apply(cfg, cmd).map_err(|e| err(format!("line {line}: {e}")))?;
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
        zero: Mutex::new(HashMap::new()),
        est: Mutex::new(Estimator::default()),
        health: Arc::new(crate::health::Monitor::default()),
    });

    // Health checks: their own TX ring on the internal NIC, replies diverted by
    // the workers (connected before the workers start).
    let health_tx = open_tx(&int, RingSize::new(1))?;
    let health_rx = shared.health.connect();
    if let Ok(st) = ctl.adm.lock() {
        ctl.publish(&st);
    }

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
    if let Some(tap) = health_rx {
        let io = crate::health::HealthIo {
            tx: health_tx,
            tap,
            mac: int.mac,
            dip: opts.int_net.addr,
            prefix_len: opts.int_net.len,
            mtu: env.mtu[Nic::Int as usize],
            neigh_tx: neigh_tx.clone(),
        };
        let (mon, sh, c) = (
            Arc::clone(&ctl.health),
            Arc::clone(&shared),
            Arc::clone(&ctl),
        );
        std::thread::Builder::new()
            .name("ringvs-health".into())
            .spawn(move || {
                let republish = || {
                    if let Ok(st) = c.adm.lock() {
                        c.publish(&st);
                    }
                };
                crate::health::run(mon, Arc::clone(&sh), io, republish, &sh.stop);
            })
            .map_err(|e| RunError::Invalid(format!("spawning health thread: {e}")))?;
    }
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

    let mut metrics_stop: Option<Arc<AtomicBool>> = None;
    // Accept control clients on their own thread; each client gets a short-lived
    // thread so a slow one never blocks another or the control loop.
    {
        let ctl = Arc::clone(&ctl);
        std::thread::Builder::new()
            .name("ringvs-ctl".into())
            .spawn(move || accept_loop(listener, ctl))
            .map_err(|e| RunError::Invalid(format!("spawning control thread: {e}")))?;
    }
    // Prometheus metrics (--metrics ADDR).
    if let Some(addr) = opts.metrics {
        let c = Arc::clone(&ctl);
        let stop = Arc::new(AtomicBool::new(false));
        crate::observe::metrics::serve(addr, Arc::clone(&stop), move || c.metrics())
            .map_err(|e| RunError::Invalid(format!("--metrics {addr}: {e}")))?;
        metrics_stop = Some(stop);
    }
    // Sample per-real-server counters for --rate.
    {
        let ctl = Arc::clone(&ctl);
        std::thread::Builder::new()
            .name("ringvs-rate".into())
            .spawn(move || {
                let mut last = Instant::now();
                loop {
                    std::thread::sleep(RATE_INTERVAL);
                    let now = Instant::now();
                    ctl.sample_rates(now.duration_since(last).as_secs_f64().max(0.001));
                    last = now;
                }
            })
            .map_err(|e| RunError::Invalid(format!("spawning rate thread: {e}")))?;
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
    if let Some(m) = &metrics_stop {
        m.store(true, Ordering::Relaxed);
    }
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
        let (rx, tx) = xdp::open(index, 0, entries).map_err(err("AF_XDP socket"))?;
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
        // Refused before it takes a client slot or a thread.
        if let Err(why) = check_peer(&stream) {
            refuse(&stream, &why);
            continue;
        }
        if ctl.clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
            ctl.clients.fetch_sub(1, Ordering::AcqRel);
            refuse(&stream, "director busy: too many control clients");
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

/// Only root, or the user the director runs as, may use the control socket
/// (its file mode 0600 says the same; this holds even if the mode is loosened
/// or the socket is passed on). Checked by the peer's credentials.
pub fn check_peer(stream: &UnixStream) -> Result<(), String> {
    use crate::io::cred;
    match cred::peer_cred(stream) {
        Ok(c) if c.uid == 0 || c.uid == cred::euid() => Ok(()),
        Ok(c) => Err(format!(
            "permission denied: the control socket is for root only (peer uid {}, pid {})",
            c.uid, c.pid
        )),
        Err(e) => Err(format!("permission denied: no peer credentials: {e}")),
    }
}

/// Answer a refused client with an error line, without waiting on it.
fn refuse(stream: &UnixStream, why: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    if let Ok(mut line) = serde_json::to_string(&Response::fail(1, why)) {
        line.push('\n');
        let _ = (&*stream).write_all(line.as_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::BufRead;

    fn ctl(workers: usize) -> (Arc<Ctl>, crossbeam_channel::Receiver<Ipv4Addr>) {
        let adm = AdmState {
            cfg: Config::new(),
            timeouts: Timeouts::default(),
        };
        let shared = Arc::new(Shared::new(Snapshot::build(&adm.cfg, adm.timeouts)));
        let (garp_tx, garp_rx) = bounded(16);
        let ctl = Ctl {
            adm: Mutex::new(adm),
            shared,
            published: (0..workers)
                .map(|_| Arc::new(Published::default()))
                .collect(),
            garp_tx,
            clients: AtomicUsize::new(0),
            zero: Mutex::new(HashMap::new()),
            est: Mutex::new(Estimator::default()),
            health: Arc::new(crate::health::Monitor::default()),
        };
        (Arc::new(ctl), garp_rx)
    }

    fn adm(c: &Ctl, line: &str) -> Response {
        let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        c.adm(&argv)
    }

    #[test]
    fn adm_commands_timeouts_zero_and_restore() {
        let (c, garp) = ctl(2);
        assert_eq!(adm(&c, "-A -t 198.18.0.110:80 -s wlc -p").code, 0);
        assert_eq!(garp.try_recv().ok(), Some(Ipv4Addr::new(198, 18, 0, 110)));
        assert_eq!(adm(&c, "-a -t 198.18.0.110:80 -r 198.19.0.2 -x 10").code, 0);
        let r = adm(&c, "-A -t 198.18.0.110:80 -s rr");
        assert_eq!((r.code, r.err.as_str()), (255, "Service already exists\n"));
        assert_eq!(adm(&c, "--set 100 0 30").code, 0);
        assert_eq!(
            adm(&c, "-L --timeout").out,
            "Timeout (tcp tcpfin udp): 100 120 30\n"
        );
        assert_eq!(adm(&c, "-Z").code, 0);
        assert_eq!(adm(&c, "-Z -t 198.18.0.110:80").code, 0);
        let r = adm(&c, "-Z -t 198.18.0.110:81");
        assert_eq!((r.code, r.err.as_str()), (255, "No such service\n"));
        let r = adm(&c, "-L -n -t 198.18.0.110:81");
        assert_eq!((r.code, r.err.as_str()), (1, "No such service\n"));
        // No worker answers for connections (the stub): only the header.
        assert_eq!(
            adm(&c, "-L -n -c").out,
            "IPVS connection entries\npro expire state       source             virtual            destination\n"
        );
        let saved = adm(&c, "-S -n").out;
        assert_eq!(
            saved,
            "-A -t 198.18.0.110:80 -s wlc -p 360\n-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 -x 10 -y 0\n"
        );
        assert_eq!(adm(&c, "-C").code, 0);
        assert_eq!(adm(&c, "-S -n").out, "");
        let r = c.restore(&saved);
        assert_eq!(r.code, 0, "{}", r.err);
        assert_eq!(adm(&c, "-S -n").out, saved);
        let r = c.restore(&saved);
        assert_eq!(
            (r.code, r.err.as_str()),
            (
                255,
                "line 1: Service already exists\nline 2: Destination already exists\n"
            )
        );
        let r = c.restore("-A -t 198.18.0.111:80 -s rr\n-A -t x\n");
        assert_eq!(r.code, 2);
        assert_eq!(
            adm(&c, "-S -n").out,
            saved,
            "a syntax error changes nothing"
        );
        let r = adm(&c, "-R");
        assert_eq!(r.code, 2);
    }

    /// `ringvs run --rules` loads a file saved by a kernel ipvsadm.
    #[test]
    fn kernel_ipvsadm_rules_file_loads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/kernel-ipvsadm-save.rules");
        let mut cfg = Config::new();
        load_rules(&mut cfg, &path).unwrap();
        assert_eq!((cfg.services().len(), cfg.dest_count()), (5, 8));
        let bad = std::env::temp_dir().join(format!("ringvs-bad-{}.rules", std::process::id()));
        std::fs::write(&bad, "-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr\n").unwrap();
        let e = load_rules(&mut Config::new(), &bad)
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_file(&bad);
        assert!(e.ends_with("line 2: Service already exists"), "{e}");
    }

    #[test]
    fn estimator_moves_a_quarter_towards_the_rate() {
        let mut e = Estimator::default();
        let id = DestId(3);
        let at = |conns| {
            HashMap::from([(
                id,
                DestStats {
                    conns,
                    ..DestStats::default()
                },
            )])
        };
        e.sample(&at(0), 2.0);
        assert_eq!(e.rate(id).conns, 0);
        e.sample(&at(800), 2.0); // 400/s: avg 100
        assert_eq!(e.rate(id).conns, 100);
        e.sample(&at(1600), 2.0); // 400/s: avg 175
        assert_eq!(e.rate(id).conns, 175);
        e.zero(&[id]);
        assert_eq!(e.rate(id).conns, 0);
        e.sample(&HashMap::new(), 2.0);
        assert!(e.last.is_empty() && e.avg.is_empty());
    }

    /// Several clients at once over a real socket; garbage and oversized
    /// requests get errors and the server keeps serving.
    #[test]
    fn socket_serves_concurrent_clients_and_survives_garbage() {
        let (c, _garp) = ctl(1);
        let dir = std::env::temp_dir().join(format!("ringvs-ctl-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("ctl.sock");
        let listener = bind_control(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let c2 = Arc::clone(&c);
        std::thread::spawn(move || accept_loop(listener, c2));

        let raw = |bytes: &[u8]| -> String {
            let mut s = UnixStream::connect(&path).unwrap();
            let _ = s.write_all(bytes);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut out = String::new();
            let _ = std::io::BufReader::new(s).read_line(&mut out);
            out
        };
        assert!(raw(b"garbage\n").contains("malformed request"));
        assert!(raw(br#"{"v":2,"cmd":"adm","argv":[]}"#).contains("protocol version 2"));
        assert!(raw(br#"{"v":1,"cmd":"adm","argv":"-L"}"#).contains("malformed request"));
        let mut big = vec![b'x'; proto::MAX_REQUEST + 100];
        big.push(b'\n');
        assert!(raw(&big).contains("request too large"));

        let threads: Vec<_> = (0..8u16)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let svc = format!("198.18.0.110:{}", 1000 + i);
                    proto::adm(&path, &["-A", "-t", &svc, "-s", "rr"]).unwrap();
                    proto::adm(&path, &["-L", "-n"]).unwrap()
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap().starts_with("IP Virtual Server"));
        }
        let list = proto::adm(&path, &["-S", "-n"]).unwrap();
        assert_eq!(list.lines().count(), 8);
        let r = proto::call(
            &path,
            Command::Restore {
                rules: "-A -u 198.18.0.110:53 -s rr\n".into(),
            },
        )
        .unwrap();
        assert_eq!(r.code, 0);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }

    /// A control socket in a fresh directory, served by `accept_loop`.
    fn serving(name: &str) -> (PathBuf, PathBuf) {
        let (c, _garp) = ctl(1);
        let dir = std::env::temp_dir().join(format!("ringvs-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("ctl.sock");
        let listener = bind_control(&path).unwrap();
        std::thread::spawn(move || accept_loop(listener, c));
        (dir, path)
    }

    /// The credential check itself, with the file mode out of the way: a process
    /// running as nobody (uid 65534) connects and is refused, root is served.
    #[test]
    fn non_root_peers_are_refused_by_credentials() {
        use std::os::unix::process::CommandExt;
        let python = std::path::Path::new("/usr/bin/python3");
        let ci = std::env::var("CI").as_deref() == Ok("true");
        if cred_euid() != 0 || !python.exists() {
            let why = "needs root and /usr/bin/python3 (to connect as uid 65534)";
            assert!(!ci, "cannot run under CI: {why}");
            eprintln!("SKIPPED (not CI): {why}");
            return;
        }
        let (dir, path) = serving("cred");
        // Loosen the mode so that only the credential check stands in the way.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let script = "import socket,sys\n\
            s=socket.socket(socket.AF_UNIX)\n\
            s.settimeout(5)\n\
            s.connect(sys.argv[1])\n\
            try: s.sendall(b'{\"v\":1,\"cmd\":\"adm\",\"argv\":[\"-A\",\"-t\",\"198.18.0.110:99\"]}\\n')\n\
            except BrokenPipeError: pass\n\
            print(s.makefile().readline(), end='')\n";
        let out = std::process::Command::new(python)
            .args(["-c", script, &path.display().to_string()])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let reply = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            reply.contains("permission denied") && reply.contains("peer uid 65534"),
            "{reply}"
        );
        // Nothing was changed, and root is still served.
        assert_eq!(proto::adm(&path, &["-S", "-n"]).unwrap(), "");
        proto::adm(&path, &["-A", "-t", "198.18.0.110:99", "-s", "rr"]).unwrap();
        assert_eq!(proto::adm(&path, &["-S", "-n"]).unwrap().lines().count(), 1);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }

    fn cred_euid() -> u32 {
        crate::io::cred::euid()
    }

    #[test]
    fn our_own_peer_passes_the_check() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(check_peer(&a), Ok(()));
    }

    /// Clients that connect and then say nothing, or half a request, hold their
    /// own thread only: others are answered at once.
    #[test]
    fn hanging_clients_do_not_block_others() {
        let (dir, path) = serving("hang");
        let mut hanging: Vec<UnixStream> = (0..4)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        let mut half = UnixStream::connect(&path).unwrap();
        half.write_all(br#"{"v":1,"cmd":"adm","ar"#).unwrap();
        hanging.push(half);
        for i in 0..5 {
            let t = Instant::now();
            let svc = format!("198.18.0.110:{}", 2000 + i);
            proto::adm(&path, &["-A", "-t", &svc, "-s", "rr"]).unwrap();
            assert!(proto::adm(&path, &["-L", "-n"]).unwrap().contains(&svc));
            assert!(
                t.elapsed() < proto::IO_TIMEOUT / 2,
                "answered after {:?} with hanging clients",
                t.elapsed()
            );
        }
        // The hanging ones are cut off by the server's read timeout, not kept forever.
        let mut line = String::new();
        let mut r = std::io::BufReader::new(hanging.pop().unwrap());
        r.get_ref()
            .set_read_timeout(Some(proto::IO_TIMEOUT * 3))
            .unwrap();
        let t = Instant::now();
        let _ = r.read_line(&mut line);
        assert!(t.elapsed() < proto::IO_TIMEOUT * 2, "{:?}", t.elapsed());
        drop(hanging);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }
}
