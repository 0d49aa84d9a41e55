//! The one way to build a director's data plane, used by `ringvs run`, the
//! in-memory test harness, the allocation test, the fuzz harness and the
//! criterion benches alike.
//!
//! [`Director::new`] makes what exists before any worker: the [`Shared`] state the
//! control thread publishes into, one [`Published`] per worker, the neighbor
//! channel, the handoff channels between every pair of workers and the pool of
//! handoff boxes. [`Director::workers`] then builds the workers on the queues the
//! caller opened (AF_PACKET, AF_XDP or in-memory), each wired to the others.

use super::icmp::empty_handoff;
use super::shared::{Env, Handoff, Published, Shared};
use super::tx::TxPair;
use super::worker::{BURST, CoreParts, Links, Worker};
use crate::NicPair;
use crate::io::{RxQueue, TxQueue};
use crate::nat::Snapshot;
use crate::neigh::NeighEvent;
use crossbeam_channel::{Receiver, Sender, bounded};
use std::sync::Arc;
use std::time::Instant;

/// Handoff frames in flight to one worker at most (default of [`Plan`]).
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
    /// Handoff channel depth per worker; the shared box pool holds as many for
    /// every worker.
    pub handoff_depth: usize,
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
    handoff_tx: Vec<Sender<Box<Handoff>>>,
    handoff_rx: Vec<Receiver<Box<Handoff>>>,
    pool: (Sender<Box<Handoff>>, Receiver<Box<Handoff>>),
}

impl Director {
    /// Everything but the workers, with `config` as the first rule snapshot.
    pub fn new(plan: Plan, config: Snapshot) -> Self {
        let n = plan.workers;
        let (neigh_tx, neigh_rx) = bounded(NEIGH_DEPTH);
        let (handoff_tx, handoff_rx) = (0..n).map(|_| bounded(plan.handoff_depth)).unzip();
        // One pool of boxes for all workers: a box returns to the pool whoever
        // used it, so handing off never allocates.
        let boxes = plan.handoff_depth * n;
        let pool = bounded(boxes);
        for _ in 0..boxes {
            let _ = pool.0.try_send(empty_handoff());
        }
        Director {
            env: Arc::new(plan.env.clone()),
            shared: Arc::new(Shared::new(config)),
            published: (0..n).map(|_| Arc::new(Published::default())).collect(),
            plan,
            neigh_tx,
            neigh_rx,
            handoff_tx,
            handoff_rx,
            pool,
        }
    }

    /// The workers, one per queue set `(rx, tx)` in worker order, wired to each
    /// other. Each registers its [`Published`] state in [`Shared::peers`].
    ///
    /// Queue sets beyond the plan's worker count are ignored; a second call
    /// builds nothing (the handoff receivers went to the first).
    pub fn workers<R: RxQueue, T: TxQueue>(
        &mut self,
        queues: impl IntoIterator<Item = (NicPair<R>, TxPair<T>)>,
    ) -> Vec<Worker<R, T>> {
        let handoff_rx = std::mem::take(&mut self.handoff_rx);
        let mut workers = Vec::with_capacity(self.plan.workers);
        for (id, ((rx, tx), handoff_rx)) in queues.into_iter().zip(handoff_rx).enumerate() {
            let links = Links {
                handoff_rx,
                handoff_tx: self.handoff_tx.clone(),
                pool_rx: self.pool.1.clone(),
                pool_tx: self.pool.0.clone(),
                neigh_tx: self.neigh_tx.clone(),
            };
            let parts = CoreParts {
                workers: self.plan.workers,
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
