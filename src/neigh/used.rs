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
    fn index<A: Place>(nic: Nic, ip: A) -> usize {
        (ip.mix() ^ nic as u64) as usize & (USED_SLOTS - 1)
    }

    /// A frame goes to `ip` on `nic` (a worker, per frame sent).
    #[inline(always)]
    pub fn mark<A: Place>(&self, nic: Nic, ip: A) {
        // In bounds: the index is masked below the length.
        let s = &self.slots[Self::index(nic, ip)];
        if !s.load(Ordering::Relaxed) {
            s.store(true, Ordering::Relaxed);
        }
    }

    /// The flags raised since the last call, each lowered as it is read
    /// (the control thread): a mark a worker makes meanwhile is in this
    /// set or the next one, never lost.
    pub fn take(&self) -> Raised {
        let mut bits = [0u64; USED_SLOTS / 64];
        for (i, s) in self.slots.iter().enumerate() {
            if s.load(Ordering::Relaxed) && s.swap(false, Ordering::Relaxed) {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        Raised(bits)
    }
}

/// What [`Used::take`] found raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raised([u64; USED_SLOTS / 64]);

impl Raised {
    /// Whether a frame went to `ip` on `nic` (or to a neighbor sharing its
    /// flag).
    pub fn is_set<A: Place>(&self, nic: Nic, ip: A) -> bool {
        let i = Used::index(nic, ip);
        self.0[i / 64] >> (i % 64) & 1 == 1
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
        let r = u.take();
        assert!(r.is_set(Nic::Int, a) && r.is_set(Nic::Int, six));
        assert!(!r.is_set(Nic::Int, b));
        assert!(!r.is_set(Nic::Ext, a));
        let r = u.take();
        assert!(
            !r.is_set(Nic::Int, a) && !r.is_set(Nic::Int, six),
            "lowered"
        );
    }
}
