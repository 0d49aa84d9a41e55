//! Connections kept past their timeout because they control others (an FTP
//! control connection whose data connections are in some worker's table):
//! as IPVS's `ip_vs_conn_expire` (`ip_vs_conn.c`, `expire_later`), which
//! re-arms such a connection's timer for 60 s, each is due again
//! [`EXPIRE_LATER`] seconds after it was kept, not a whole timeout later.
//!
//! All are re-armed for the same time, so a FIFO of re-arms is in the order
//! they fall due, where the per-state lists (ordered by last packet) would
//! need a sorted insert. A re-arm is stale once its connection left the
//! table or was seen since (a packet gives it its state's whole timeout
//! again, as the kernel's next packet sets `cp->timeout` from its state);
//! stale ones are dropped when they come due. Looked at with the expiry,
//! once a second, never per packet.

use super::super::state::{State, Timeouts};
use super::{Addr, Conn, ConnTable, FREE, FlowKey, NIL};
use std::collections::VecDeque;

/// Seconds a kept connection waits before it is looked at again (IPVS's
/// `expire_later`: `cp->timeout = 60*HZ`).
pub const EXPIRE_LATER: u32 = crate::nat::persist::EXPIRE_LATER;

/// One re-arm: the entry, the second before it was kept (its `seen` from
/// then on, until a packet), and its key (another connection may take the entry
/// once it is gone).
struct Rearmed<A> {
    idx: u32,
    at: u32,
    key: FlowKey<A>,
}

/// The re-arms, oldest first.
pub(super) struct Later<A>(VecDeque<Rearmed<A>>);

impl<A> Default for Later<A> {
    fn default() -> Self {
        Self(VecDeque::new())
    }
}

impl<A: Addr> ConnTable<A> {
    /// Keep entry `idx` (in `state`), whose timeout passed at `now`: seen
    /// again now, and due again [`EXPIRE_LATER`] seconds later.
    ///
    /// It is marked seen a second earlier than `now`, so that a packet in
    /// this same second moves its `seen` (`touch`'s same-second shortcut
    /// would not) and makes the re-arm stale, as the kernel's next packet
    /// gives it its state's whole timeout; it is due again [`EXPIRE_LATER`]
    /// seconds after `now` all the same.
    pub(super) fn rearm(&mut self, idx: u32, state: State, now: u32, timeouts: &Timeouts) {
        let at = now.saturating_sub(1);
        self.touch(idx, state, at, timeouts);
        let key = self.slab[idx as usize].in_key();
        self.later.0.push_back(Rearmed { idx, at, key });
    }

    /// The connections re-armed [`EXPIRE_LATER`] seconds ago or more and not
    /// seen since: those `keep` still holds are re-armed, the others leave
    /// (`gone` called with each), at most `budget` of them. Returns how
    /// many left.
    pub(super) fn expire_rearmed(
        &mut self,
        now: u32,
        timeouts: &Timeouts,
        budget: &mut usize,
        keep: &mut impl FnMut(u32, &Conn<A>) -> bool,
        gone: &mut impl FnMut(&Conn<A>),
    ) -> usize {
        let mut n = 0;
        while *budget > 0 {
            match self.later.0.front() {
                Some(r) if now.saturating_sub(r.at) > EXPIRE_LATER => {}
                _ => break,
            }
            let Some(r) = self.later.0.pop_front() else {
                break;
            };
            let Some(c) = self.slab.get(r.idx as usize) else {
                continue;
            };
            if c.prev == FREE || c.seen != r.at || c.in_key() != r.key {
                continue;
            }
            *budget -= 1;
            if keep(r.idx, c) {
                let s = c.state;
                self.rearm(r.idx, s, now, timeouts);
                continue;
            }
            let c = c.clone();
            self.remove(r.idx);
            gone(&c);
            n += 1;
        }
        n
    }
}

impl<A: Addr> ConnTable<A> {
    /// [`ConnTable::expire`], but a connection `keep` holds is kept, due
    /// again [`EXPIRE_LATER`] seconds on, as IPVS re-arms the timer of a
    /// connection that still controls others (`ip_vs_conn_expire`,
    /// `expire_later`; `later.rs`). `keep` is given each due entry's index
    /// and connection; an entry it keeps stays at its index through the
    /// call (so the caller may act on it after: a sync master reports it,
    /// as `expire_later` calls `ip_vs_sync_conn`). Returns how many were
    /// removed and how much of `budget` was used (kept ones count against
    /// it too).
    pub fn expire_keeping(
        &mut self,
        now: u32,
        timeouts: &Timeouts,
        mut budget: usize,
        mut keep: impl FnMut(u32, &Conn<A>) -> bool,
        mut gone: impl FnMut(&Conn<A>),
    ) -> (usize, usize) {
        let start = budget;
        // The re-arms take at most half the budget first (each kept
        // connection comes due every 60 s, and many could starve the state
        // lists), and what the lists leave: the budget is all used unless
        // both are done, so the caller's "used less: done this second" holds.
        let half = budget.div_ceil(2);
        let mut share = half;
        let mut n = self.expire_rearmed(now, timeouts, &mut share, &mut keep, &mut gone);
        budget -= half - share;
        n += self.expire_lists(now, timeouts, &mut budget, &mut keep, &mut gone);
        n += self.expire_rearmed(now, timeouts, &mut budget, &mut keep, &mut gone);
        (n, start - budget)
    }

    /// The per-state lists' part of [`ConnTable::expire_keeping`].
    fn expire_lists(
        &mut self,
        now: u32,
        timeouts: &Timeouts,
        budget: &mut usize,
        keep: &mut impl FnMut(u32, &Conn<A>) -> bool,
        gone: &mut impl FnMut(&Conn<A>),
    ) -> usize {
        let mut n = 0;
        for s in State::ALL {
            let limit = timeouts.secs(s);
            while *budget > 0 {
                let head = self.lists[s as usize].head;
                let due = |t: &Self| now.saturating_sub(t.slab[head as usize].seen) >= limit;
                if head == NIL || !due(self) {
                    break;
                }
                *budget -= 1;
                if keep(head, &self.slab[head as usize]) {
                    self.rearm(head, s, now, timeouts);
                    // Marked seen a second ago: under a 1 s timeout still
                    // due, and still the head; its re-arm has it now.
                    if self.lists[s as usize].head == head && due(self) {
                        break;
                    }
                    continue;
                }
                let c = self.slab[head as usize].clone();
                self.remove(head);
                gone(&c);
                n += 1;
            }
        }
        n
    }
}
