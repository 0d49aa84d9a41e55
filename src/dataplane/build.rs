//! The one way to build a director's data plane, used by `ringvs run`, the
//! in-memory test harness, the allocation test, the fuzz harness and the
//! criterion benches alike.
//!
//! [`Director::new`] makes what exists before any worker: the [`Shared`] state the
//! control thread publishes into, one [`Published`] per worker, the neighbor
//! channel, and the handoff rings between every ordered pair of workers with
//! their boxes ([`super::handoff::mesh_with_wakers`]). [`Director::workers`] then builds the workers on the queues the
//! caller opened (AF_PACKET, AF_XDP or in-memory), each wired to the others.

use super::handoff::{Handoffs, mesh_with_wakers};
use super::shared::{Env, Published, Shared};
use super::tx::TxPair;
use super::worker::{BURST, CoreParts, Links, Worker};
use crate::io::{RxQueue, TxQueue};
use crate::nat::Snapshot;
use crate::neigh::NeighEvent;
use crate::{Nic, NicPair};
use crossbeam_channel::{Receiver, Sender, bounded};
use std::sync::Arc;
use std::time::Instant;

/// Handoff frames in flight from one worker to another at most (default of
/// [`Plan`]).
pub const HANDOFF_DEPTH: usize = 64;
/// Neighbor events in flight from the workers to the control thread at most.
pub const NEIGH_DEPTH: usize = 4096;

/// What a director's data plane is built from.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Number of workers.
    pub workers: usize,
    pub env: Env,
    /// Connections per worker at most.
    pub max_conns: usize,
    /// Frames per RX queue per pass (`--burst`).
    pub burst: usize,
    /// Depth of each handoff ring (one per ordered pair of workers, each with
    /// as many boxes).
    pub handoff_depth: usize,
    /// Steer every TCP/UDP frame to the worker that owns its client key
    /// ([`crate::io::fanout::owner`]), handing it off when another worker
    /// received it. For queues that do not keep a flow's two directions on one
    /// worker (AF_XDP on several NIC queues, where RSS picks the queue); off
    /// where the AF_PACKET fanout program already does it.
    pub steer: bool,
    /// The instant worker clocks count from.
    pub start: Instant,
}

impl Plan {
    /// `workers` workers with the defaults of `ringvs run`.
    pub fn new(workers: usize, env: Env, max_conns: usize) -> Self {
        Plan {
            workers,
            env,
            max_conns,
            burst: BURST,
            handoff_depth: HANDOFF_DEPTH,
            steer: false,
            start: Instant::now(),
        }
    }
}

/// A director's data plane: the shared state and channels, and (through
/// [`Director::workers`]) its workers.
pub struct Director {
    pub plan: Plan,
    pub env: Arc<Env>,
    pub shared: Arc<Shared>,
    /// One per worker, in worker order.
    pub published: Vec<Arc<Published>>,
    /// Neighbor events: workers (and the health thread) send, the control thread
    /// receives.
    pub neigh_tx: Sender<NeighEvent>,
    pub neigh_rx: Receiver<NeighEvent>,
    /// Each worker's ends of the handoff rings, until [`Director::workers`].
    handoffs: Vec<Handoffs>,
    /// The sync daemons' ends of every worker's sync channels (taken by the
    /// control plane that runs the daemons).
    pub sync: Option<super::sync::SyncPorts>,
    /// Each worker's ends, until [`Director::workers`].
    sync_links: Vec<super::sync::SyncLink>,
}

impl Director {
    /// Everything but the workers, with `config` as the first rule snapshot.
    pub fn new(plan: Plan, config: Snapshot) -> Self {
        let n = plan.workers;
        let (neigh_tx, neigh_rx) = bounded(NEIGH_DEPTH);
        let (handoffs, wakers) = mesh_with_wakers(n, plan.handoff_depth);
        let (sync, sync_links) = super::sync::channels(n);
        let published = (0..n)
            .map(|id| Arc::new(Published::woken_by(wakers.one(id))))
            .collect();
        let mut shared = Shared::new(config);
        shared.wakers = wakers;
        Director {
            sync: Some(sync),
            sync_links,
            env: Arc::new(plan.env.clone()),
            shared: Arc::new(shared),
            published,
            plan,
            neigh_tx,
            neigh_rx,
            handoffs,
        }
    }

    /// The workers, one per queue set `(rx, tx)` in worker order, wired to each
    /// other. Each registers its [`Published`] state in [`Shared::peers`].
    ///
    /// Queue sets beyond the plan's worker count are ignored; a second call
    /// builds nothing (the handoff rings went to the first).
    pub fn workers<R: RxQueue, T: TxQueue>(
        &mut self,
        queues: impl IntoIterator<Item = (NicPair<R>, TxPair<T>)>,
    ) -> Vec<Worker<R, T>> {
        let handoffs = std::mem::take(&mut self.handoffs);
        let mut sync = std::mem::take(&mut self.sync_links).into_iter();
        let mut workers = Vec::with_capacity(self.plan.workers);
        let queues: Vec<_> = queues.into_iter().take(self.plan.workers).collect();
        let steer = self.plan.steer && self.plan.workers > 1;
        let lend_handoffs = steer && one_umem(&queues);
        for (id, ((rx, tx), handoffs)) in queues.into_iter().zip(handoffs).enumerate() {
            let links = Links {
                handoffs,
                neigh_tx: self.neigh_tx.clone(),
                sync: sync.next(),
            };
            let parts = CoreParts {
                workers: self.plan.workers,
                steer,
                lend_handoffs,
                env: Arc::clone(&self.env),
                shared: Arc::clone(&self.shared),
                out: Arc::clone(&self.published[id]),
                max_conns: self.plan.max_conns,
                burst: self.plan.burst,
                start: self.plan.start,
            };
            workers.push(Worker::new(id, rx, tx, parts, links));
        }
        debug_assert_eq!(workers.len(), self.plan.workers, "one queue set per worker");
        workers
    }
}

/// Whether every queue of every worker is on one frame memory (`Umem`),
/// so that a frame can go from any worker's RX queue to any other worker's
/// TX queue by its descriptor (AF_XDP sockets on one UMEM:
/// `io::xdp::open_workers`).
fn one_umem<R: RxQueue, T: TxQueue>(queues: &[(NicPair<R>, TxPair<T>)]) -> bool {
    let mut umems = queues.iter().flat_map(|(rx, tx)| {
        [Nic::Ext, Nic::Int]
            .into_iter()
            .flat_map(move |nic| [rx[nic].umem(), tx[nic].umem()])
    });
    let first = umems.next().flatten();
    first.is_some() && umems.all(|u| u == first)
}
