//! The hashing schedulers: `dh` (destination hashing), `sh` (source hashing)
//! and `mh` (Maglev hashing). Each builds a static table when the snapshot is
//! published; a pick is one hash and one lookup, no lock, no write.
//!
//! `dh` and `sh` use IPVS's 256-bucket tables and its multiplicative hash (the
//! golden-ratio `hash_32`), so the same address lands in the same bucket as in
//! the kernel. `mh` uses the Maglev construction with IPVS's default prime
//! table size and its weight scaling, but its own keyed hash (splitmix64), so
//! it has the kernel's properties without its exact choices.

use super::lc::mix64;
use super::{Candidate, Flow, SchedFlags, available, gcd};

/// Buckets of the `dh` and `sh` tables (IPVS's `IP_VS_{DH,SH}_TAB_BITS` = 8).
pub const HASH_BUCKETS: usize = 256;
const HASH_BITS: u32 = 8;
/// A bucket or table slot with no server.
const NONE: u32 = u32::MAX;

/// The kernel's `hash_32(v, 8)`: the top bits of `v` times the golden ratio.
#[inline]
fn hash8(v: u32) -> usize {
    (v.wrapping_mul(0x61c8_8647) >> (32 - HASH_BITS)) as usize
}

/// A 256-bucket table: server index per bucket.
#[derive(Debug)]
pub struct Buckets(Box<[u32; HASH_BUCKETS]>);

impl Buckets {
    /// `dh`'s table: servers assigned to buckets in turn, whatever their
    /// weight (IPVS's `dh` ignores weights but for 0 = unavailable).
    pub fn cyclic(n: usize) -> Self {
        let mut b = Box::new([NONE; HASH_BUCKETS]);
        if n > 0 {
            for (i, x) in b.iter_mut().enumerate() {
                *x = (i % n) as u32;
            }
        }
        Buckets(b)
    }

    /// `sh`'s table: walking the servers in list order, each takes as many
    /// consecutive buckets as its weight (at least one: a quiesced server
    /// keeps one bucket, unavailable), wrapping around until all 256 are
    /// taken — IPVS's `ip_vs_sh_reassign`.
    pub fn weighted<C: Candidate>(dests: &[C]) -> Self {
        let mut b = Box::new([NONE; HASH_BUCKETS]);
        if !dests.is_empty() {
            let (mut d, mut taken) = (0, 0u32);
            for x in b.iter_mut() {
                *x = d as u32;
                taken += 1;
                if taken >= dests[d].weight() {
                    d = (d + 1) % dests.len();
                    taken = 0;
                }
            }
        }
        Buckets(b)
    }

    fn get(&self, i: usize) -> Option<usize> {
        let d = self.0[i % HASH_BUCKETS];
        (d != NONE).then_some(d as usize)
    }

    /// How many buckets each of `n` servers holds.
    pub fn shares(&self, n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &d in self.0.iter() {
            if let Some(x) = c.get_mut(d as usize) {
                *x += 1;
            }
        }
        c
    }
}

/// `dh`: the bucket of the packet's destination address; no server if that
/// one is unavailable (IPVS's `dh` has no fallback).
pub fn dh_pick<C: Candidate>(b: &Buckets, flow: &Flow, dests: &[C]) -> Option<usize> {
    b.get(hash8(flow.vaddr))
        .filter(|&d| dests.get(d).is_some_and(available))
}

/// `sh`: the bucket of the client address (plus the client port with
/// `sh-port`). If that server is unavailable: no server, or with
/// `sh-fallback` the next buckets in turn until an available server.
///
/// The kernel's fallback probes bucket `2*h + k` for k = 0, 1, ...; this walks
/// `h + 1, h + 2, ...`. Both try every bucket once; only the order differs.
pub fn sh_pick<C: Candidate>(
    b: &Buckets,
    flags: SchedFlags,
    flow: &Flow,
    dests: &[C],
) -> Option<usize> {
    let port = if flags.port { flow.cport } else { 0 };
    let h = hash8(flow.client.wrapping_add(u32::from(port)));
    let ok = |d: &usize| dests.get(*d).is_some_and(available);
    let first = b.get(h)?;
    if ok(&first) || !flags.fallback {
        return Some(first).filter(ok);
    }
    (1..HASH_BUCKETS).filter_map(|k| b.get(h + k)).find(ok)
}

/// The Maglev table size: IPVS's default (`CONFIG_IP_VS_MH_TAB_INDEX` 12,
/// the fifth of its primes). A prime size makes every skip a generator, so
/// each server's permutation visits every slot.
pub const MH_TABLE_SIZE: usize = 4093;
/// Weights are scaled so the largest, over the gcd, fits in this many bits
/// (IPVS's `IP_VS_MH_TAB_BITS`), keeping the fill rounds few.
const MH_WEIGHT_BITS: u32 = 6;
const MH_SEED_OFFSET: u64 = 0x6a09_e667_f3bc_c908;
const MH_SEED_SKIP: u64 = 0xbb67_ae85_84ca_a73b;

#[inline]
fn mh_hash(seed: u64, v: u64) -> u64 {
    mix64(v ^ seed)
}

/// A Maglev lookup table: server index per slot.
#[derive(Debug)]
pub struct Maglev(Box<[u32]>);

impl Maglev {
    /// Maglev's population: every server has a permutation of the slots (an
    /// offset and a skip, both hashed from its address and port); in rounds,
    /// each server in list order claims its next free preferred slot, as many
    /// times per round as its scaled weight, until every slot is taken.
    ///
    /// Weights are IPVS's: `last_weight` over the gcd of all non-zero ones,
    /// shifted right so the largest fits in 6 bits (a server whose weight
    /// shifts to 0 still gets one turn); a server whose last weight is 0 gets
    /// no slot. More servers than slots: an empty table (the kernel refuses
    /// the configuration).
    pub fn new<C: Candidate>(dests: &[C]) -> Self {
        let m = MH_TABLE_SIZE;
        let mut table = vec![NONE; m].into_boxed_slice();
        let g = dests.iter().map(Candidate::last_weight).fold(0, gcd);
        if g == 0 || dests.len() > m {
            return Maglev(table);
        }
        let mw = dests.iter().map(|d| d.last_weight() / g).max().unwrap_or(0);
        let shift = (32 - mw.leading_zeros()).saturating_sub(MH_WEIGHT_BITS);
        struct Setup {
            next: usize,
            skip: usize,
            turns: u32,
        }
        let mut setup: Vec<Setup> = dests
            .iter()
            .map(|d| {
                let key = (u64::from(d.addr()) << 16) | u64::from(d.port());
                let lw = d.last_weight();
                Setup {
                    next: (mh_hash(MH_SEED_OFFSET, key) % m as u64) as usize,
                    skip: (mh_hash(MH_SEED_SKIP, key) % (m as u64 - 1)) as usize + 1,
                    turns: match (lw / g) >> shift {
                        0 => u32::from(lw != 0),
                        t => t,
                    },
                }
            })
            .collect();
        let mut filled = 0;
        'fill: loop {
            for (i, s) in setup.iter_mut().enumerate() {
                for _ in 0..s.turns {
                    while table[s.next] != NONE {
                        s.next = (s.next + s.skip) % m;
                    }
                    table[s.next] = i as u32;
                    filled += 1;
                    if filled == m {
                        break 'fill;
                    }
                }
            }
        }
        Maglev(table)
    }

    /// How many slots each of `n` servers holds.
    pub fn shares(&self, n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &d in self.0.iter() {
            if let Some(x) = c.get_mut(d as usize) {
                *x += 1;
            }
        }
        c
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[inline]
    fn slot(&self, key: u64, offset: u64) -> Option<usize> {
        let d = self.0[(mh_hash(MH_SEED_OFFSET, key.wrapping_add(offset)) % self.0.len() as u64)
            as usize];
        (d != NONE).then_some(d as usize)
    }

    /// `mh`: the slot of the client address (plus the client port with
    /// `mh-port`). If that server is unavailable: no server, or with
    /// `mh-fallback` the slots of rehashes of the key with offsets
    /// 1, 2, ... (as the kernel does), until an available server.
    pub fn pick<C: Candidate>(&self, flags: SchedFlags, flow: &Flow, dests: &[C]) -> Option<usize> {
        let port = if flags.port { flow.cport } else { 0 };
        let key = (u64::from(flow.client) << 16) | u64::from(port);
        let ok = |d: &usize| dests.get(*d).is_some_and(available);
        let first = self.slot(key, 0)?;
        if ok(&first) || !flags.fallback {
            return Some(first).filter(ok);
        }
        (1..self.0.len() as u64)
            .filter_map(|k| self.slot(key, k))
            .find(ok)
    }
}
