//! Overlapping the cache misses of a burst. With a million connections, a
//! packet's index slot and slab entry are almost never in the cache, and one
//! lookup after the other waits for DRAM twice per packet. The lookups of a
//! burst are pipelined, as VPP's and DPDK's bulk lookups do: before the burst
//! is handled, [`Core::prefetch`] parses and hashes each frame's flow key and
//! asks for its index slots (the line of its first slot, and the next line,
//! where its probe run may go on: `ConnTable::prefetch_slot`); then, while
//! the frames are handled one by one (`classify`, `nat`), the drain loop
//! reads the slot of the frame [`ENTRY_AHEAD`] places ahead and asks for the
//! slab entry it names ([`Core::prefetch_entry`]). So when a frame's turn
//! comes, its lookup finds both in the cache, and the misses were waited for
//! in parallel and behind useful work.
//!
//! The requests are prefetch instructions (`prefetch_index`, a safe wrapper:
//! a prefetch never faults and never blocks the core), not loads: a load
//! that misses blocks retirement, so a pass of loads stalls the core until
//! they arrive; a prefetch retires at once. Parsing here is only a hint: a
//! frame that does not parse is skipped, and `classify` checks everything
//! again.

use super::worker::Core;
use crate::Nic;
use crate::io::RxQueue;
use crate::nat::FlowKey;
use crate::wire::ethernet::{self, EthernetFrame, ethertype};
use crate::wire::ipv4::{self, protocol};
use crate::wire::{Ipv6Packet, tcp, udp};
use std::net::Ipv6Addr;

/// Frames of a burst whose lookups are started ahead at most.
pub const AHEAD: usize = 64;

/// Below this many connections the index and the slab (56 bytes or less per
/// connection) fit in a core's L2 cache, the lookups hardly miss, and the
/// second parse and hash of every frame would cost more than they save.
pub const PREFETCH_MIN_CONNS: usize = 16_384;

/// Whether to look ahead at all: on CPUs whose out-of-order window overlaps
/// independent loads (the scalar path elsewhere handles frames one by one).
const PREFETCH: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// The key `nat_in` (external NIC) or `nat_out` (internal NIC) would look up
/// for this frame, if it is an unfragmented IPv4 TCP or UDP packet without
/// options: read at fixed offsets, as this runs for every frame of a burst
/// before it is handled. A hint only: `classify` checks the frame, and a key
/// read from a frame it then rejects is never looked up.
#[inline]
fn key_of(nic: Nic, data: &[u8]) -> Option<FlowKey> {
    const IP: usize = ethernet::HEADER_LEN;
    const L4: usize = IP + ipv4::HEADER_LEN;
    let h: &[u8; L4 + 4] = data.first_chunk()?;
    let be16 = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
    let be32 = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    // IPv4, a 20-byte header, no fragment (MF clear, offset 0).
    if be16(12) != ethertype::IPV4 || h[IP] != 0x45 || be16(IP + 6) & 0x3fff != 0 {
        return None;
    }
    let proto = h[IP + 9];
    let l4_len = match proto {
        protocol::TCP => tcp::HEADER_LEN,
        protocol::UDP => udp::HEADER_LEN,
        _ => return None,
    };
    if data.len() < L4 + l4_len {
        return None;
    }
    Some(FlowKey::new(
        nic as u8,
        proto,
        be32(IP + 12),
        be16(L4),
        be32(IP + 16),
        be16(L4 + 2),
    ))
}

/// The key `nat_in6` or `nat_out6` would look up for this frame, if it is an
/// IPv6 TCP or UDP packet (past its extension headers, which the walk's fast
/// path skips when there are none).
#[inline]
fn key6_of(nic: Nic, data: &[u8]) -> Option<FlowKey<Ipv6Addr>> {
    let eth = EthernetFrame::new_checked(data).ok()?;
    if eth.ethertype() != ethertype::IPV6 {
        return None;
    }
    let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
    let (proto, l4) = ip.l4().ok()?;
    if proto != protocol::TCP && proto != protocol::UDP {
        return None;
    }
    let (sport, dport, _) = super::classify::ports(proto, l4)?;
    Some(FlowKey::new(
        nic as u8,
        proto,
        ip.src(),
        sport,
        ip.dst(),
        dport,
    ))
}

/// The family of a frame whose lookup was started, if it was.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    None,
    V4,
    V6,
}

/// The lookups [`Core::prefetch`] started for a burst: each frame's family,
/// key and hash, by its place in the burst; and the place of the frame being
/// handled, whose lookup then takes the hash from here instead of hashing
/// its key a second time ([`AheadKey::hash_in`]). Kept in the worker, so a
/// burst writes only the places it uses.
pub(super) struct Ahead {
    fam: [Fam; AHEAD],
    hash: [u64; AHEAD],
    key4: [FlowKey; AHEAD],
    key6: [FlowKey<Ipv6Addr>; AHEAD],
    n: usize,
    /// The place of the frame being handled; [`AHEAD`] (none) outside the
    /// drain loop, e.g. for frames handed over by other workers.
    pub(super) at: usize,
}

impl Ahead {
    pub(super) fn new() -> Self {
        Self {
            fam: [Fam::None; AHEAD],
            hash: [0; AHEAD],
            key4: [FlowKey::new(0, 0, 0, 0, 0, 0); AHEAD],
            key6: [FlowKey::new(0, 0, Ipv6Addr::UNSPECIFIED, 0, Ipv6Addr::UNSPECIFIED, 0); AHEAD],
            n: 0,
            at: AHEAD,
        }
    }

    /// The place of the frame being handled, if its lookup was started as
    /// family `fam`.
    #[inline]
    fn current(&self, fam: Fam) -> Option<usize> {
        let k = self.at;
        (k < self.n && self.fam.get(k) == Some(&fam)).then_some(k)
    }
}

/// An address family whose lookups [`Ahead`] holds.
pub(super) trait AheadKey: Sized {
    /// The hash of `key` if it is the key whose lookup was started for the
    /// frame being handled (so it was hashed already).
    fn hash_in(ahead: &Ahead, key: &FlowKey<Self>) -> Option<u64>;
}

impl AheadKey for u32 {
    #[inline(always)]
    fn hash_in(ahead: &Ahead, key: &FlowKey) -> Option<u64> {
        let k = ahead.current(Fam::V4)?;
        (ahead.key4[k] == *key).then_some(ahead.hash[k])
    }
}

impl AheadKey for Ipv6Addr {
    #[inline(always)]
    fn hash_in(ahead: &Ahead, key: &FlowKey<Ipv6Addr>) -> Option<u64> {
        let k = ahead.current(Fam::V6)?;
        (ahead.key6[k] == *key).then_some(ahead.hash[k])
    }
}

/// How many frames ahead of the one being handled its slab entry is asked
/// for: far enough that the line arrives before the frame is handled (a
/// frame takes some tens of ns, a miss to DRAM here about 170), near enough
/// that the lines asked for are still in L1 when their frames come.
pub const ENTRY_AHEAD: usize = 6;

impl Core {
    /// Start the table lookups of the next `n` (at most [`AHEAD`]) ready frames
    /// of `rx`, which arrived on `nic`, in the table of each frame's family
    /// that holds at least [`PREFETCH_MIN_CONNS`] connections: hash each key
    /// and ask for its first index slot. Then ask for the slab entries of the
    /// first [`ENTRY_AHEAD`] frames (the drain loop asks for the others, one
    /// per frame handled, with [`Core::prefetch_entry`]). Changes nothing
    /// but [`Ahead`].
    #[inline]
    pub(super) fn prefetch<R: RxQueue>(&mut self, nic: Nic, rx: &R, n: usize) {
        let v4 = self.table.len() >= PREFETCH_MIN_CONNS;
        let v6 = self.table6.len() >= PREFETCH_MIN_CONNS;
        let ahead = &mut self.ahead;
        (ahead.n, ahead.at) = (0, AHEAD);
        if !PREFETCH || !(v4 || v6) {
            return;
        }
        for k in 0..n.min(AHEAD) {
            let Some(data) = rx.peek_ahead(k) else { break };
            ahead.fam[k] = Fam::None;
            if let Some(key) = key_of(nic, data).filter(|_| v4) {
                let h = self.table.hash_key(&key);
                self.table.prefetch_slot(h);
                (ahead.fam[k], ahead.hash[k], ahead.key4[k]) = (Fam::V4, h, key);
            } else if let Some(key) = key6_of(nic, data).filter(|_| v6) {
                let h = self.table6.hash_key(&key);
                self.table6.prefetch_slot(h);
                (ahead.fam[k], ahead.hash[k], ahead.key6[k]) = (Fam::V6, h, key);
            }
            ahead.n = k + 1;
        }
        for k in 0..ENTRY_AHEAD {
            self.prefetch_entry(nic, k);
        }
    }

    /// Ask for the slab entry of the `k`th frame of the burst, if its lookup
    /// was started (its index slot was asked for in [`Core::prefetch`]).
    #[inline]
    pub(super) fn prefetch_entry(&self, nic: Nic, k: usize) {
        let a = &self.ahead;
        if k >= a.n {
            return;
        }
        let side = nic as u8;
        match a.fam[k] {
            Fam::None => {}
            Fam::V4 => self.table.prefetch_entry(a.hash[k], side),
            Fam::V6 => self.table6.prefetch_entry(a.hash[k], side),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// Ethernet + IPv4 + TCP (or UDP) from 198.18.0.10:40000 to 198.18.0.110:80.
    fn frame(proto: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[198, 18, 0, 10]);
        ip[16..20].copy_from_slice(&[198, 18, 0, 110]);
        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[34 + 12] = 5 << 4;
        if proto == protocol::UDP {
            f[38..40].copy_from_slice(&8u16.to_be_bytes());
        }
        f
    }

    #[test]
    fn keys_are_the_ones_nat_looks_up() {
        let (src, dst) = (0xc612_000a, 0xc612_006e);
        for (nic, proto) in [(Nic::Ext, 6), (Nic::Int, 6), (Nic::Ext, 17)] {
            let want = FlowKey::new(nic as u8, proto, src, 40000, dst, 80);
            assert_eq!(key_of(nic, &frame(proto)), Some(want));
        }
        // Not TCP/UDP, a fragment, cut short, not IPv4: no key.
        assert_eq!(key_of(Nic::Ext, &frame(1)), None);
        let mut frag = frame(6);
        frag[14 + 6] = 0x20;
        assert_eq!(key_of(Nic::Ext, &frag), None);
        assert_eq!(key_of(Nic::Ext, &frame(6)[..40]), None);
        let mut arp = frame(6);
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(key_of(Nic::Ext, &arp), None);
        assert_eq!(key6_of(Nic::Ext, &frame(6)), None, "IPv4 has no IPv6 key");
    }

    /// Ethernet + IPv6 (+ a destination-options header if `ext`) + TCP from
    /// [2001:2:0:1::1]:40000 to [2001:2:0:1::110]:80.
    fn frame6(ext: bool) -> Vec<u8> {
        let opts = if ext { 8 } else { 0 };
        let mut f = vec![0u8; 14 + 40 + opts + 20];
        f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        let ip = &mut f[14..54];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&(20 + opts as u16).to_be_bytes());
        ip[6] = if ext { 60 } else { 6 };
        ip[7] = 64;
        ip[8..24].copy_from_slice(&src6().octets());
        ip[24..40].copy_from_slice(&dst6().octets());
        let l4 = 54 + opts;
        if ext {
            f[54] = 6; // next header TCP, length 0 (8 bytes of PadN)
            f[56] = 1;
            f[57] = 4;
        }
        f[l4..l4 + 2].copy_from_slice(&40000u16.to_be_bytes());
        f[l4 + 2..l4 + 4].copy_from_slice(&80u16.to_be_bytes());
        f[l4 + 12] = 5 << 4;
        f
    }

    fn src6() -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1)
    }

    fn dst6() -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110)
    }

    #[test]
    fn ipv6_keys_are_the_ones_nat6_looks_up() {
        for nic in [Nic::Ext, Nic::Int] {
            let want = FlowKey::new(nic as u8, 6, src6(), 40000, dst6(), 80);
            assert_eq!(key6_of(nic, &frame6(false)), Some(want));
            assert_eq!(key6_of(nic, &frame6(true)), Some(want), "past the options");
        }
        assert_eq!(key_of(Nic::Ext, &frame6(false)), None, "no IPv4 key");
        assert_eq!(key6_of(Nic::Ext, &frame6(false)[..60]), None, "cut short");
        let mut frag = frame6(false);
        frag[14 + 6] = 44;
        assert_eq!(key6_of(Nic::Ext, &frag), None, "a fragment");
    }
}
