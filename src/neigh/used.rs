//! Which neighbors traffic uses: a flag per place that a worker raises when
//! it sends a frame to a neighbor, and the control thread reads and lowers
//! when it ticks the table (`NeighTable::note_use`). The table lets an entry
//! nobody uses go stale instead of refreshing it, as Linux does with
//! `neigh->used` (`net/core/neighbour.c`).
//!
//! A worker's mark costs one relaxed load of a shared flag and, once per
//! control tick at most, one relaxed store: no lock, no allocation, no
//! syscall. The flags are few and hashed: two neighbors that share a place
//! both look used when either is, which errs on the side of the old rule
//! (a neighbor kept refreshed), never against traffic.

use super::Place;
use crate::Nic;
use std::sync::atomic::{AtomicBool, Ordering};

/// Flags (a power of two).
pub const USED_SLOTS: usize = 4096;

/// The flags, shared by the workers and the control thread (in
/// `dataplane::Shared`).
#[derive(Debug)]
pub struct Used {
    slots: Box<[AtomicBool]>,
}

impl Default for Used {
    fn default() -> Self {
        Self {
            slots: (0..USED_SLOTS).map(|_| AtomicBool::new(false)).collect(),
        }
    }
}

impl Used {
    #[inline(always)]
    fn slot<A: Place>(&self, nic: Nic, ip: A) -> &AtomicBool {
        let i = (ip.mix() ^ nic as u64) as usize & (USED_SLOTS - 1);
        // In bounds: `i` is masked below the length.
        &self.slots[i]
    }

    /// A frame goes to `ip` on `nic` (a worker, per frame sent).
    #[inline(always)]
    pub fn mark<A: Place>(&self, nic: Nic, ip: A) {
        let s = self.slot(nic, ip);
        if !s.load(Ordering::Relaxed) {
            s.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a frame went to `ip` on `nic` since the last [`Used::clear`].
    pub fn is_set<A: Place>(&self, nic: Nic, ip: A) -> bool {
        self.slot(nic, ip).load(Ordering::Relaxed)
    }

    /// Lowers every raised flag (the control thread, once it read them).
    pub fn clear(&self) {
        for s in self.slots.iter() {
            if s.load(Ordering::Relaxed) {
                s.store(false, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn a_mark_is_seen_until_cleared_for_its_neighbor_only() {
        let u = Used::default();
        let (a, b) = (0xc613_0002_u32, 0xc613_0003_u32);
        let six = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 2);
        u.mark(Nic::Int, a);
        u.mark(Nic::Int, six);
        assert!(u.is_set(Nic::Int, a) && u.is_set(Nic::Int, six));
        assert!(!u.is_set(Nic::Int, b));
        assert!(!u.is_set(Nic::Ext, a));
        u.clear();
        assert!(!u.is_set(Nic::Int, a) && !u.is_set(Nic::Int, six));
    }
}
