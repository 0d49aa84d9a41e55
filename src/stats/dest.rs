//! Per-real-server gauges and traffic, one array of each per worker, indexed
//! by `DestId % MAX_DESTS`.

use super::DestStats;
use crate::config::DestId;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Most real servers a director tracks at once (ids are `DestId`s below this).
pub const MAX_DESTS: usize = 1 << 16;

/// Active/inactive connection counts per real server for one worker: written by
/// that worker only, read by the control thread for `-L`.
#[derive(Debug)]
pub struct DestGauges {
    active: Box<[AtomicU32]>,
    inactive: Box<[AtomicU32]>,
}

impl Default for DestGauges {
    fn default() -> Self {
        let v = || (0..MAX_DESTS).map(|_| AtomicU32::new(0)).collect();
        Self {
            active: v(),
            inactive: v(),
        }
    }
}

impl DestGauges {
    /// Move one connection of `dest` between the gauges (single writer: the worker).
    #[inline]
    pub fn adjust(&self, dest: DestId, from_active: Option<bool>, to_active: Option<bool>) {
        let i = dest.0 as usize % MAX_DESTS;
        let bump = |g: &AtomicU32, up: bool| {
            let v = g.load(Ordering::Relaxed);
            g.store(
                if up { v + 1 } else { v.saturating_sub(1) },
                Ordering::Relaxed,
            );
        };
        if from_active == to_active {
            return;
        }
        match from_active {
            Some(true) => bump(&self.active[i], false),
            Some(false) => bump(&self.inactive[i], false),
            None => {}
        }
        match to_active {
            Some(true) => bump(&self.active[i], true),
            Some(false) => bump(&self.inactive[i], true),
            None => {}
        }
    }

    /// (ActiveConn, InActConn) of `dest` on this worker.
    pub fn get(&self, dest: DestId) -> (u32, u32) {
        let i = dest.0 as usize % MAX_DESTS;
        (
            self.active[i].load(Ordering::Relaxed),
            self.inactive[i].load(Ordering::Relaxed),
        )
    }
}

/// Fields of one real server's traffic record in [`DestTraffic`].
const T_CONNS: usize = 0;
const T_INPKTS: usize = 1;
const T_INBYTES: usize = 2;
const T_OUTPKTS: usize = 3;
const T_OUTBYTES: usize = 4;

/// Per-real-server traffic of one worker ([`DestStats`] per `DestId % MAX_DESTS`),
/// allocated once at start (40 bytes per id, one record per server so a packet
/// touches one cache line). Written by that worker only: a counter moves by a
/// relaxed load and a relaxed store, never a read-modify-write, and other threads
/// read it with relaxed loads. Zeroing (`-Z`) is done by the worker too, on request.
#[derive(Debug)]
pub struct DestTraffic(Box<[[AtomicU64; 5]]>);

impl Default for DestTraffic {
    fn default() -> Self {
        Self(
            (0..MAX_DESTS)
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
        )
    }
}

impl DestTraffic {
    #[inline]
    fn bump(&self, dest: DestId, field: usize, n: u64) {
        let c = &self.0[dest.0 as usize % MAX_DESTS][field];
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// One more connection scheduled to `dest` (single writer: the worker).
    #[inline]
    pub fn conn(&self, dest: DestId) {
        self.bump(dest, T_CONNS, 1);
    }

    /// A packet of `bytes` (IP total length) forwarded client → `dest`.
    #[inline]
    pub fn inbound(&self, dest: DestId, bytes: u64) {
        self.bump(dest, T_INPKTS, 1);
        self.bump(dest, T_INBYTES, bytes);
    }

    /// A packet of `bytes` forwarded `dest` → client.
    #[inline]
    pub fn outbound(&self, dest: DestId, bytes: u64) {
        self.bump(dest, T_OUTPKTS, 1);
        self.bump(dest, T_OUTBYTES, bytes);
    }

    /// The traffic of `dest` counted so far.
    pub fn get(&self, dest: DestId) -> DestStats {
        let r = &self.0[dest.0 as usize % MAX_DESTS];
        let v = |f: usize| r[f].load(Ordering::Relaxed);
        DestStats {
            conns: v(T_CONNS),
            inpkts: v(T_INPKTS),
            outpkts: v(T_OUTPKTS),
            inbytes: v(T_INBYTES),
            outbytes: v(T_OUTBYTES),
        }
    }

    /// The traffic of every record, summed: what this worker forwarded for
    /// all real servers it ever had, deleted ones included.
    pub fn total(&self) -> DestStats {
        let mut t = [0u64; 5];
        for r in self.0.iter() {
            for (s, c) in t.iter_mut().zip(r) {
                *s = s.wrapping_add(c.load(Ordering::Relaxed));
            }
        }
        DestStats {
            conns: t[T_CONNS],
            inpkts: t[T_INPKTS],
            outpkts: t[T_OUTPKTS],
            inbytes: t[T_INBYTES],
            outbytes: t[T_OUTBYTES],
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn gauges_move_between_active_and_inactive() {
        let g = DestGauges::default();
        let d = DestId(3);
        g.adjust(d, None, Some(false));
        g.adjust(d, Some(false), Some(true));
        assert_eq!(g.get(d), (1, 0));
        g.adjust(d, Some(true), None);
        assert_eq!(g.get(d), (0, 0));
    }

    #[test]
    fn traffic_counts_per_dest() {
        let t = DestTraffic::default();
        let (a, b) = (DestId(1), DestId(2));
        t.conn(a);
        t.inbound(a, 60);
        t.inbound(a, 40);
        t.outbound(a, 1500);
        t.outbound(b, 52);
        let want = DestStats {
            conns: 1,
            inpkts: 2,
            outpkts: 1,
            inbytes: 100,
            outbytes: 1500,
        };
        assert_eq!(t.get(a), want);
        assert_eq!(t.get(b).outbytes, 52);
    }
}
