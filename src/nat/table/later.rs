//! Connections kept past their timeout because they control others (an FTP
//! control connection whose data connections are in some worker's table):
//! as IPVS's `ip_vs_conn_expire` (`ip_vs_conn.c`, `expire_later`), which
//! re-arms such a connection's timer for 60 s (`cp->timeout = 60*HZ`),
//! whatever its state's timeout, each is due again [`EXPIRE_LATER`]
//! seconds after it was kept.
//!
//! A kept connection leaves its state's list for the list of re-arms, a
//! list through the same links (`ConnTable::later`): all are re-armed for
//! the same time, so linked at its tail they are in the order they fall
//! due, where the per-state lists (ordered by last packet) would need a
//! sorted insert; and out of its state's list, a connection in a state
//! whose timeout is under 60 s (CLOSE's 10 s) is not looked at again, and
//! reported to a sync master again, at that timeout. Its state and its
//! count under that state stay. A packet on it takes it back to its
//! state's list with the state's whole timeout (as the kernel's next
//! packet sets `cp->timeout` from its state): `touch` moves it, since a
//! kept connection is marked seen a second before it was kept and as
//! lagging [`KEPT`] seconds behind that, more than any slack, and
//! `unlink` finds which of the two lists it heads or ends. Looked at with
//! the expiry, once a second, never per packet.

use super::super::state::Timeouts;
use super::{Addr, Conn, ConnTable, KEPT, NIL, State};

/// Seconds a kept connection waits before it is looked at again (IPVS's
/// `expire_later`: `cp->timeout = 60*HZ`).
pub const EXPIRE_LATER: u32 = crate::nat::persist::EXPIRE_LATER;

impl<A: Addr> ConnTable<A> {
    /// Keep entry `idx`, whose timeout (or re-arm) passed at `now`: out of
    /// the list it is on (its state's, or the re-arms'), at the tail of the
    /// re-arms, due again [`EXPIRE_LATER`] seconds after `now`.
    ///
    /// It is marked seen a second earlier than `now` and as linked
    /// [`KEPT`] seconds before that, so that a packet, even in this
    /// same second, moves it (`touch`'s same-second and within-the-slack
    /// shortcuts would not) back to its state's list, as the kernel's next
    /// packet gives it its state's whole timeout.
    pub(super) fn rearm(&mut self, idx: u32, now: u32) {
        let state = self.slab[idx as usize].state;
        self.unlink(idx, state);
        self.slab[idx as usize].seen = now.saturating_sub(1);
        self.later.push_tail(&mut self.slab, idx);
        self.slab[idx as usize].set_lag(KEPT);
    }

    /// The connections re-armed [`EXPIRE_LATER`] seconds ago or more (a
    /// packet since took any other back to its state's list): those `keep`
    /// still holds are re-armed, the others leave (`gone` called with each),
    /// at most `budget` of them. Returns how many left.
    pub(super) fn expire_rearmed(
        &mut self,
        now: u32,
        budget: &mut usize,
        keep: &mut impl FnMut(u32, &Conn<A>) -> bool,
        gone: &mut impl FnMut(&Conn<A>, u32),
    ) -> usize {
        let mut n = 0;
        while *budget > 0 {
            let head = self.later.head;
            if head == NIL || now.saturating_sub(self.slab[head as usize].seen) <= EXPIRE_LATER {
                break;
            }
            *budget -= 1;
            if keep(head, &self.slab[head as usize]) {
                self.rearm(head, now);
                continue;
            }
            let (c, link) = (self.slab[head as usize].clone(), self.link(head));
            self.remove(head);
            gone(&c, link);
            n += 1;
        }
        n
    }
}

impl<A: Addr> ConnTable<A> {
    /// [`ConnTable::expire`], but a connection `keep` holds is kept, due
    /// again [`EXPIRE_LATER`] seconds on whatever its state's timeout, as
    /// IPVS re-arms the timer of a connection that still controls others
    /// (`ip_vs_conn_expire`, `expire_later`; `later.rs`). `keep` is given
    /// each due entry's index and connection; an entry it keeps stays at
    /// its index through the call (so the caller may act on it after: a
    /// sync master reports it, as `expire_later` calls `ip_vs_sync_conn`).
    /// Returns how many were removed and how much of `budget` was used
    /// (kept ones count against it too).
    pub fn expire_keeping(
        &mut self,
        now: u32,
        timeouts: &Timeouts,
        mut budget: usize,
        mut keep: impl FnMut(u32, &Conn<A>) -> bool,
        mut gone: impl FnMut(&Conn<A>, u32),
    ) -> (usize, usize) {
        let start = budget;
        // The re-arms take at most half the budget first (each kept
        // connection comes due every 60 s, and many could starve the state
        // lists), and what the lists leave: the budget is all used unless
        // both are done, so the caller's "used less: done this second" holds.
        let half = budget.div_ceil(2);
        let mut share = half;
        let mut n = self.expire_rearmed(now, &mut share, &mut keep, &mut gone);
        budget -= half - share;
        n += self.expire_lists(now, timeouts, &mut budget, &mut keep, &mut gone);
        n += self.expire_rearmed(now, &mut budget, &mut keep, &mut gone);
        (n, start - budget)
    }

    /// The per-state lists' part of [`ConnTable::expire_keeping`].
    fn expire_lists(
        &mut self,
        now: u32,
        timeouts: &Timeouts,
        budget: &mut usize,
        keep: &mut impl FnMut(u32, &Conn<A>) -> bool,
        gone: &mut impl FnMut(&Conn<A>, u32),
    ) -> usize {
        let mut n = 0;
        for s in State::ALL {
            let limit = timeouts.secs(s);
            while *budget > 0 {
                let head = self.lists[s as usize].head;
                if head == NIL || now.saturating_sub(self.slab[head as usize].seen) < limit {
                    break;
                }
                *budget -= 1;
                if keep(head, &self.slab[head as usize]) {
                    // Off this list: looked at again with the re-arms.
                    self.rearm(head, now);
                    continue;
                }
                let (c, link) = (self.slab[head as usize].clone(), self.link(head));
                self.remove(head);
                gone(&c, link);
                n += 1;
            }
        }
        n
    }
}
