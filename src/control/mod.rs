//! The control plane: starting the director, the control socket, `adm` commands,
//! statistics, and the neighbor table.
//!
//! The control thread owns the configuration and the neighbor table. It publishes
//! immutable snapshots of both (`arc-swap`) and bumps an epoch that workers check
//! once per loop; it never touches a worker's connection table.
//!
//! Its files, by job:
//!
//! * `mod.rs`: `Ctl`, the state the control threads share, and [`RunError`].
//! * `startup.rs`: [`run`] and its options: checking them, opening the NICs'
//!   queues, building the workers with `dataplane::Director` and spawning them, starting the
//!   control threads, stopping.
//! * `neigh.rs`: the control thread's main loop: neighbor resolution (ARP
//!   probes, gratuitous ARP, publishing the neighbor snapshot).
//! * `server.rs`: the control socket: binding, accepting, [`check_peer`],
//!   refusals, serving one request per client thread, and the entry of
//!   `ringvs capture` / `ringvs trace` streams.
//! * `adm.rs`: the configuration: `ringvs adm` commands, `-R` restore, `-L`
//!   listings, [`load_rules`], publishing the rules to the workers.
//! * `ha.rs`: the HA role and the connection-sync daemons (`--ha`,
//!   `--start-daemon`, `--stop-daemon`, `-L --daemon`).
//! * `reload.rs`: `--keepalived FILE` as a rule source, re-read on SIGHUP.
//! * `report.rs`: `ringvs stats`, Prometheus metrics, the rate estimator,
//!   batch-time summaries, per-server counters and connection listings.

mod adm;
mod ha;
mod ipvs_metrics;
mod mtu;
mod neigh;
mod queues;
mod rates;
mod reload;
mod report;
mod server;
mod startup;

pub use crate::dataplane::HANDOFF_DEPTH;
pub use adm::load_rules;
pub use neigh::send_mld;
pub use report::{CONNS_WAIT, RATE_INTERVAL};
pub use server::{MAX_CLIENTS, check_peer};
pub use startup::{IoBackend, RunOptions, run};

use crate::config::DestId;
use crate::dataplane::{Published, Shared};
use crate::io::nic::NicError;
use crate::stats::DestStats;
use adm::AdmState;
use crossbeam_channel::Sender;
use rates::Estimator;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Why the director could not start, or stopped.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Nic(#[from] NicError),
    #[error("opening the {what} ring on {nic}: {err}{}", needs_root(.err))]
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
    /// SIGINT or SIGTERM arrived before the director had started: it did
    /// what it was asked, so `ringvs run` exits 0.
    #[error("stopped by SIGINT or SIGTERM while starting")]
    Stopped,
}

/// What a ring's error adds when the kernel refused for want of privilege
/// (EPERM, EACCES): nothing otherwise, where the errno says what is wrong.
fn needs_root(e: &std::io::Error) -> &'static str {
    match crate::io::errno(e) {
        Some(libc::EPERM | libc::EACCES) => {
            " (ringvs needs root: CAP_NET_RAW, and for XDP CAP_NET_ADMIN and CAP_BPF)"
        }
        _ => "",
    }
}

/// The control state: what adm handlers, the socket server, reports and the
/// health-check thread share with the control loop.
struct Ctl {
    adm: Mutex<AdmState>,
    shared: Arc<Shared>,
    published: Vec<Arc<Published>>,
    /// New VIPs to announce (gratuitous ARP, unsolicited neighbor
    /// advertisement).
    garp_tx: Sender<IpAddr>,
    clients: AtomicUsize,
    /// Per-real-server counters at the last `-Z` (listings subtract them).
    zero: Mutex<HashMap<DestId, DestStats>>,
    /// What the workers had counted under an id when it was handed to a
    /// new server (an earlier server's traffic): every report subtracts it.
    born: Mutex<HashMap<DestId, DestStats>>,
    /// The workers' traffic for all servers at the last `-Z` of every
    /// service: the zero of the director's totals (`node_ipvs_*_total`).
    tot_zero: Mutex<DestStats>,
    /// Rate estimates, updated by the sampler thread.
    est: Mutex<Estimator>,
    /// Health checks: what to check, and who is down (`crate::health`).
    health: Arc<crate::health::Monitor>,
    /// The connection-sync daemons (none in tests without a data plane).
    sync: Mutex<Option<crate::sync::daemon::Daemons>>,
    /// `--keepalived FILE`: the file and what it gave last (`reload.rs`).
    ka: Mutex<Option<reload::KaSource>>,
    /// What SIGHUP did to `ka` so far, under a lock of its own so that
    /// `ringvs stats` never waits for a reload to parse the file.
    ka_reloads: Mutex<Option<reload::ReloadCounts>>,
}

impl Ctl {
    /// The control state at start: no client, no `-Z` baseline, no rates yet.
    fn new(
        adm: AdmState,
        shared: Arc<Shared>,
        published: Vec<Arc<Published>>,
        (garp_tx, notify): (Sender<IpAddr>, crate::health::Notifier),
    ) -> Self {
        Ctl {
            adm: Mutex::new(adm),
            shared,
            published,
            garp_tx,
            clients: AtomicUsize::new(0),
            zero: Mutex::new(HashMap::new()),
            born: Mutex::new(HashMap::new()),
            tot_zero: Mutex::new(DestStats::default()),
            est: Mutex::new(Estimator::default()),
            health: Arc::new(crate::health::Monitor::with_notifier(notify)),
            sync: Mutex::new(None),
            ka: Mutex::new(None),
            ka_reloads: Mutex::new(None),
        }
    }
}

/// The queue of VIPs to announce (gratuitous ARP, unsolicited NA) from the
/// control thread to the announcer: unbounded, so that each VIP a change
/// adds is announced however many one `-R` adds (a bounded one dropped
/// those past its size unseen); what it holds is bounded by the rules.
fn announce_queue() -> (Sender<IpAddr>, crossbeam_channel::Receiver<IpAddr>) {
    crossbeam_channel::unbounded()
}

/// A control state for tests: no rules, `workers` workers that never answer,
/// and the receiving end of the gratuitous-ARP queue.
#[cfg(test)]
fn test_ctl(workers: usize) -> (Arc<Ctl>, crossbeam_channel::Receiver<IpAddr>) {
    test_ctl_notifying(workers, crate::health::Notifier::default())
}

/// [`test_ctl`] whose health events go to `notify`.
#[cfg(test)]
fn test_ctl_notifying(
    workers: usize,
    notify: crate::health::Notifier,
) -> (Arc<Ctl>, crossbeam_channel::Receiver<IpAddr>) {
    use crate::nat::{Snapshot, Timeouts};
    let adm = AdmState {
        cfg: crate::config::Config::new(),
        timeouts: Timeouts::default(),
    };
    let shared = Arc::new(Shared::new(Snapshot::build(&adm.cfg, adm.timeouts)));
    let (garp_tx, garp_rx) = announce_queue();
    let published = (0..workers)
        .map(|_| Arc::new(Published::default()))
        .collect();
    (
        Arc::new(Ctl::new(adm, shared, published, (garp_tx, notify))),
        garp_rx,
    )
}

#[cfg(test)]
mod run_error_tests {
    use super::RunError;

    /// A ring refused for want of privilege says what is needed; any other
    /// refusal only says what the kernel said.
    #[test]
    fn a_ring_error_blames_privilege_only_for_eperm() {
        let ring = |errno| RunError::Ring {
            what: "RX",
            nic: "ext0".into(),
            err: std::io::Error::from_raw_os_error(errno),
        };
        let m = ring(libc::EPERM).to_string();
        assert!(m.starts_with("opening the RX ring on ext0: "), "{m}");
        assert!(m.contains("ringvs needs root"), "{m}");
        let m = ring(libc::ENODEV).to_string();
        assert!(!m.contains("root"), "{m}");
    }
}
