//! The hashing schedulers: `dh` (destination hashing), `sh` (source hashing)
//! and `mh` (Maglev hashing). Each builds a static table, again only when a
//! published snapshot changes what it is built from; a pick is one hash and
//! one lookup, no lock, no write.
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
    /// weight (IPVS's `dh` ignores weights but for 0 = unavailable),
    /// newest first (`ip_vs_dh_reassign` walks `svc->destinations`, where
    /// `__ip_vs_update_dest` adds each server at the head; the list here
    /// is in the order the servers were added).
    pub fn cyclic(n: usize) -> Self {
        let mut b = Box::new([NONE; HASH_BUCKETS]);
        if n > 0 {
            for (i, x) in b.iter_mut().enumerate() {
                *x = (n - 1 - i % n) as u32;
            }
        }
        Buckets(b)
    }

    /// `sh`'s table: walking the servers newest first, as `cyclic`, each
    /// takes as many consecutive buckets as its weight (at least one: a
    /// quiesced server keeps one bucket, unavailable), wrapping around
    /// until all 256 are taken — IPVS's `ip_vs_sh_reassign`.
    pub fn weighted<C: Candidate>(dests: &[C]) -> Self {
        let mut b = Box::new([NONE; HASH_BUCKETS]);
        if let Some(last) = dests.len().checked_sub(1) {
            let (mut d, mut taken) = (last, 0u32);
            for x in b.iter_mut() {
                *x = d as u32;
                taken += 1;
                if taken >= dests[d].weight() {
                    d = d.checked_sub(1).unwrap_or(last);
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
    /// each server in the order added (the kernel's `ip_vs_mh_populate`
    /// walks its list, newest first, but the hash here is ringvs's own, so
    /// its order would buy no kernel server) claims its next free preferred slot, as many
    /// times per round as its scaled weight, until every slot is taken.
    ///
    /// Weights are IPVS's (`ip_vs_mh.c`: `ip_vs_mh_permutate`,
    /// `ip_vs_mh_gcd_weight`, `ip_vs_mh_shift_weight`): `last_weight` (kept by
    /// the data plane's `DestEntry` as `__ip_vs_update_dest` keeps it) over the
    /// gcd of all non-zero ones,
    /// shifted right so the largest fits in 6 bits (a server whose weight
    /// shifts to 0 still gets one turn); a server whose last weight is 0 gets
    /// no slot. More servers than slots: the table is built from the first
    /// [`MH_TABLE_SIZE`] in the order added, those the kernel's table holds
    /// once each further `-a` is refused by `ip_vs_mh_reassign` (whose
    /// error `__ip_vs_update_dest` ignores, so the server is added but gets
    /// no slot). Unlike the kernel, which keeps its table untouched while
    /// the service has more servers than slots, a removal or a weight
    /// change rebuilds it from the first ones (docs/ipvsadm.md).
    pub fn new<C: Candidate>(dests: &[C]) -> Self {
        let m = MH_TABLE_SIZE;
        let mut table = vec![NONE; m].into_boxed_slice();
        let dests = &dests[..dests.len().min(m)];
        let g = dests.iter().map(Candidate::last_weight).fold(0, gcd);
        if g == 0 {
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
        let d = self.0
            [(mh_hash(MH_SEED_OFFSET, key.wrapping_add(offset)) % self.0.len() as u64) as usize];
        (d != NONE).then_some(d as usize)
    }

    /// `mh`: the slot of the client address (plus the client port with
    /// `mh-port`). If that server is unavailable: no server, or with
    /// `mh-fallback` the slots of rehashes of the key with offsets
    /// 1, 2, ..., until an available server. The kernel's
    /// `ip_vs_mh_get_fallback` (`ip_vs_mh.c`) also rehashes, but with offsets
    /// `(ihash + k) mod size` for k = 0, 1, ... (ihash: the first slot) and
    /// stops at an empty slot; the hash differs anyway (see the module doc).
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

#[cfg(test)]
mod test {
    use super::super::testing::*;
    use super::super::{SchedState, Scheduler};
    use super::*;

    const FLAGS: SchedFlags = SchedFlags {
        fallback: false,
        port: false,
    };
    const FALLBACK: SchedFlags = SchedFlags {
        fallback: true,
        port: false,
    };
    const PORT: SchedFlags = SchedFlags {
        fallback: false,
        port: true,
    };

    fn to(vaddr: u32) -> Flow {
        Flow {
            vaddr,
            client: 0x0101_0101,
            ..Flow::default()
        }
    }

    fn from(client: u32) -> Flow {
        Flow {
            client,
            cport: 40_000,
            vaddr: 0xc612_006e,
            vaddr_wide: 0xc612_006e,
            vport: 80,
            now_s: 0,
        }
    }

    /// Clients 100.64.0.0 and up (consecutive addresses: the common case).
    fn clients(n: u32) -> impl Iterator<Item = u32> {
        (0..n).map(|i| 0x6440_0000 + i)
    }

    fn share_ok(c: &[usize], weights: &[u32], tolerance: f64) -> bool {
        let total: usize = c.iter().sum();
        let wsum: u32 = weights.iter().sum();
        weights.iter().zip(c).all(|(&w, &n)| {
            let want = f64::from(w) / f64::from(wsum);
            (n as f64 / total as f64 - want).abs() <= tolerance * want
        })
    }

    #[test]
    fn dh_is_stable_spreads_evenly_and_has_no_fallback() {
        let mut d = servers(&[1, 5, 1]);
        let s = SchedState::new(Scheduler::Dh, FLAGS, &d);
        let again = SchedState::new(Scheduler::Dh, FLAGS, &d);
        let mut c = vec![0; 3];
        for v in clients(30_000) {
            let p = s.pick(&to(v), &d).expect("all available");
            assert_eq!(s.pick(&to(v), &d), Some(p));
            assert_eq!(again.pick(&to(v), &d), Some(p), "rebuild moved {v:x}");
            // The client does not matter, only the destination.
            let other = Flow {
                client: v.rotate_left(7),
                ..to(v)
            };
            assert_eq!(s.pick(&other, &d), Some(p));
            c[p] += 1;
        }
        // IPVS's dh ignores weights: a third each.
        assert!(share_ok(&c, &[1, 1, 1], 0.02), "{c:?}");
        // The hashed server unavailable: no server.
        let v = clients(1000)
            .find(|&v| s.pick(&to(v), &d) == Some(1))
            .expect("some");
        d[1].over = true;
        assert_eq!(s.pick(&to(v), &d), None);
        d[1].over = false;
        d[1].w = 0;
        assert_eq!(s.pick(&to(v), &d), None);
        assert_eq!(
            SchedState::new(Scheduler::Dh, FLAGS, &[] as &[D]).pick(&to(v), &d),
            None
        );
    }

    /// The kernel's list has the newest server first (`__ip_vs_update_dest`
    /// adds at the head), and `ip_vs_dh_reassign` and `ip_vs_sh_reassign`
    /// fill the buckets from it: servers added as A (weight 1), B (1),
    /// C (2) fill `dh`'s C B A C B A … and `sh`'s C C B A C C B A ….
    #[test]
    fn buckets_fill_newest_first_as_the_kernels_list() {
        let (a, b, c) = (0, 1, 2);
        let d = servers(&[1, 1, 2]);
        let sh = Buckets::weighted(&d);
        let got: Vec<usize> = (0..8).filter_map(|i| sh.get(i)).collect();
        assert_eq!(got, [c, c, b, a, c, c, b, a]);
        let dh = Buckets::cyclic(d.len());
        let got: Vec<usize> = (0..6).filter_map(|i| dh.get(i)).collect();
        assert_eq!(got, [c, b, a, c, b, a]);
        assert_eq!(Buckets::weighted(&servers(&[3])).shares(1), [256]);
    }

    #[test]
    fn sh_buckets_follow_weights() {
        // Cycle 1+2+5 = 8 buckets, 32 times over.
        let d = servers(&[1, 2, 5]);
        assert_eq!(Buckets::weighted(&d).shares(3), [32, 64, 160]);
        // A quiesced server keeps one bucket per turn.
        assert_eq!(Buckets::weighted(&servers(&[0, 1])).shares(2), [128, 128]);
        let s = SchedState::new(Scheduler::Sh, FLAGS, &d);
        let again = SchedState::new(Scheduler::Sh, FLAGS, &d);
        let mut c = vec![0; 3];
        for v in clients(100_000) {
            let p = s.pick(&from(v), &d).expect("all available");
            assert_eq!(again.pick(&from(v), &d), Some(p));
            c[p] += 1;
        }
        assert!(share_ok(&c, &[1, 2, 5], 0.05), "{c:?}");
    }

    #[test]
    fn sh_port_flag_adds_the_client_port_to_the_key() {
        let d = servers(&[1, 1, 1, 1]);
        let plain = SchedState::new(Scheduler::Sh, FLAGS, &d);
        let port = SchedState::new(Scheduler::Sh, PORT, &d);
        let f = |cport| Flow {
            cport,
            ..from(0x6440_0001)
        };
        let without: std::collections::HashSet<_> =
            (1024..1100).map(|p| plain.pick(&f(p), &d)).collect();
        let with: std::collections::HashSet<_> =
            (1024..1100).map(|p| port.pick(&f(p), &d)).collect();
        assert_eq!(without.len(), 1);
        assert_eq!(with.len(), 4);
        assert_eq!(port.pick(&f(2000), &d), port.pick(&f(2000), &d));
    }

    #[test]
    fn sh_fallback_only_with_the_flag() {
        let mut d = servers(&[1, 1, 1]);
        let plain = SchedState::new(Scheduler::Sh, FLAGS, &d);
        let fb = SchedState::new(Scheduler::Sh, FALLBACK, &d);
        let before: Vec<_> = clients(3000).map(|v| plain.pick(&from(v), &d)).collect();
        for over in [true, false] {
            if over {
                d[0].over = true;
            } else {
                d[0] = D { w: 0, ..d[0] };
            }
            for (v, &b) in clients(3000).zip(&before) {
                let p = plain.pick(&from(v), &d);
                let q = fb.pick(&from(v), &d);
                if b == Some(0) {
                    assert_eq!(p, None);
                    assert!(q.is_some_and(|q| q != 0));
                    assert_eq!(fb.pick(&from(v), &d), q, "fallback is stable");
                } else {
                    // Clients of the other servers do not move.
                    assert_eq!((p, q), (b, b));
                }
            }
        }
        d[1].w = 0;
        d[2].over = true;
        assert!(clients(100).all(|v| fb.pick(&from(v), &d).is_none()));
    }

    /// A server past the table's size is added without a slot, as the
    /// kernel's `-a` of a 4094th server leaves its table as it was
    /// (`ip_vs_mh_reassign` refuses, `__ip_vs_update_dest` ignores it):
    /// new clients are still scheduled, to the servers they went to.
    #[test]
    fn mh_past_the_table_size_keeps_the_first_servers_table() {
        let mut d = servers(&vec![1; MH_TABLE_SIZE]);
        let before = Maglev::new(&d);
        d.push(D {
            addr: 0x0a00_ffff,
            ..d[0]
        });
        let after = Maglev::new(&d);
        assert_eq!(after.shares(MH_TABLE_SIZE + 1), {
            let mut sh = before.shares(MH_TABLE_SIZE);
            sh.push(0);
            sh
        });
        let s = SchedState::new(Scheduler::Mh, SchedFlags::default(), &d);
        assert!(clients(100).all(|v| s.pick(&from(v), &d).is_some()));
    }

    fn is_prime(n: usize) -> bool {
        n > 1
            && (2..)
                .take_while(|i| i * i <= n)
                .all(|i| !n.is_multiple_of(i))
    }

    #[test]
    fn mh_table_is_prime_full_and_weighted() {
        assert!(is_prime(MH_TABLE_SIZE));
        let t = Maglev::new(&servers(&[1, 2, 3, 4]));
        assert_eq!(t.len(), MH_TABLE_SIZE);
        let sh = t.shares(5);
        assert_eq!(sh.iter().sum::<usize>(), MH_TABLE_SIZE);
        assert_eq!(sh[4], 0, "no empty slot");
        assert!(share_ok(&sh[..4], &[1, 2, 3, 4], 0.01), "{sh:?}");
        // Weights are relative to their gcd: 20,40 is 1,2.
        assert_eq!(
            Maglev::new(&servers(&[20, 40])).shares(2),
            Maglev::new(&servers(&[1, 2])).shares(2)
        );
        // Huge weights are scaled, not starved: 1000 and 1 keep one turn each
        // for the small one per 62 of the big one.
        let sh = Maglev::new(&servers(&[1000, 1])).shares(2);
        assert!(sh[1] > 0 && sh[1] * 50 < sh[0], "{sh:?}");
        // A zero weight gets nothing; all zero: an empty table, no server.
        assert_eq!(Maglev::new(&servers(&[0, 1])).shares(2), [0, MH_TABLE_SIZE]);
        let d = servers(&[0, 0]);
        let s = SchedState::new(Scheduler::Mh, FALLBACK, &d);
        assert_eq!(s.pick(&from(1), &d), None);
    }

    #[test]
    fn mh_spreads_clients_by_weight() {
        let d = servers(&[1, 2, 3, 4]);
        let s = SchedState::new(Scheduler::Mh, FLAGS, &d);
        let c = counts(100_000, 4, |i| s.pick(&from(0x6440_0000 + i as u32), &d));
        assert!(share_ok(&c[..4], &[1, 2, 3, 4], 0.05), "{c:?}");
    }

    #[test]
    fn mh_removing_one_of_five_moves_about_a_fifth() {
        let d = servers(&[1, 1, 1, 1, 1]);
        let s = SchedState::new(Scheduler::Mh, FLAGS, &d);
        let gone = 2;
        let rest: Vec<D> = d
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != gone)
            .map(|(_, x)| *x)
            .collect();
        let s2 = SchedState::new(Scheduler::Mh, FLAGS, &rest);
        let n = 100_000;
        let (mut moved, mut survivors, mut survivors_moved) = (0, 0, 0);
        for v in clients(n) {
            let a = d[s.pick(&from(v), &d).expect("available")].addr;
            let b = rest[s2.pick(&from(v), &rest).expect("available")].addr;
            if a != b {
                moved += 1;
            }
            if a != d[gone].addr {
                survivors += 1;
                if a != b {
                    survivors_moved += 1;
                }
            }
        }
        let moved = f64::from(moved) / f64::from(n);
        assert!((0.17..0.27).contains(&moved), "moved {moved}");
        let sm = f64::from(survivors_moved) / f64::from(survivors);
        assert!(sm < 0.05, "survivors moved {sm}");
    }

    #[test]
    fn mh_port_flag_and_stability() {
        let d = servers(&[1, 1, 1, 1]);
        let plain = SchedState::new(Scheduler::Mh, FLAGS, &d);
        let port = SchedState::new(Scheduler::Mh, PORT, &d);
        let again = SchedState::new(Scheduler::Mh, PORT, &d);
        let f = |cport| Flow {
            cport,
            ..from(0x6440_0001)
        };
        let without: std::collections::HashSet<_> =
            (1024..1100).map(|p| plain.pick(&f(p), &d)).collect();
        let with: std::collections::HashSet<_> =
            (1024..1100).map(|p| port.pick(&f(p), &d)).collect();
        assert_eq!(without.len(), 1);
        assert_eq!(with.len(), 4);
        assert!((1024..1100).all(|p| port.pick(&f(p), &d) == again.pick(&f(p), &d)));
    }

    /// `hash8` is the kernel's `hash_32(v, 8)` (`include/linux/hash.h`:
    /// `v * GOLDEN_RATIO_32`, 0x61C88647, its top 8 bits), worked out by
    /// hand: 1 gives 0x61 (the constant's top byte), 0x6440_0001 gives
    /// the top byte of 0x6440_0001 × 0x61C8_8647 mod 2^32 = 0xAF88_8647.
    /// And `dh`/`sh` pick the servers the kernel's do for fixed addresses
    /// (expected values from an independent model of `ip_vs_dh.c` and
    /// `ip_vs_sh.c`: `ip_vs_{dh,sh}_hashkey`, `hash_32(ntohs(port) +
    /// ntohl(fold), 8)` for `sh`, and the tables `ip_vs_{dh,sh}_reassign`
    /// fill walking the list newest first), IPv6 addresses folded as the
    /// kernel folds them (the XOR of their four words).
    #[test]
    fn dh_and_sh_pick_the_kernel_s_servers() {
        for (v, h) in [
            (0, 0),
            (1, 0x61),
            (0x6440_0001, 0xaf),
            (0xc612_0001, 188),
            (u32::MAX, 158),
        ] {
            assert_eq!(hash8(v), h, "{v:#x}");
        }
        let fold = |a: &str| crate::nat::fold32(a.parse::<std::net::Ipv6Addr>().expect("v6"));
        assert_eq!(fold("2001:2:0:1::1"), 0x2001_0002);
        assert_eq!(fold("2001:2:ffff::abcd"), 0xdffe_abcf);
        assert_eq!(fold("2001:2:0:1::110"), 0x2001_0113);
        // Weights 1, 2, 3 added in that order: the kernel's list is 3, 2, 1.
        let d = servers(&[1, 2, 3]);
        let sh = |flags, client, cport| {
            let f = Flow {
                client,
                cport,
                ..from(0)
            };
            SchedState::new(Scheduler::Sh, flags, &d).pick(&f, &d)
        };
        for (client, cport, want) in [
            (0x6440_0001, 40_000, [2, 0]),
            (0xc612_0007, 1234, [2, 2]),
            (0x2001_0002, 40_000, [0, 2]),
            (0xdffe_abcf, 0, [1, 1]),
        ] {
            let got = [sh(FLAGS, client, cport), sh(PORT, client, cport)];
            assert_eq!(got, want.map(Some), "{client:#x} port {cport}");
        }
        let dh = |vaddr| SchedState::new(Scheduler::Dh, FLAGS, &d).pick(&to(vaddr), &d);
        for (vaddr, want) in [(0xc612_006e, 0), (0xc612_0101, 1), (0x2001_0113, 1)] {
            assert_eq!(dh(vaddr), Some(want), "{vaddr:#x}");
        }
    }
}
