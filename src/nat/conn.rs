//! A tracked connection ([`Conn`]) and the flow keys it is found by
//! ([`FlowKey`]): the entries of a worker's [`ConnTable`](super::ConnTable),
//! which keeps them in a slab and links them on its expiry lists through the
//! links stored here.
//!
//! Both are generic over the address family ([`Addr`]), `u32` (IPv4) by
//! default. The fields are laid out in a fixed order (`repr(C)`): the
//! addresses first (4 or 16 bytes each, so the next field stays 4-aligned),
//! then the 32-, 16- and 8-bit fields, so neither family has padding: an IPv4
//! entry is 36 bytes and its key 16, an IPv6 entry 72 bytes and its key 40. In
//! both the first byte is the client address and the last the state, which
//! [`ConnTable::prefetch_entry`](super::ConnTable::prefetch_entry) relies on.

use super::addr::Addr;
use super::persist::EXPIRE_LATER;
use super::rewrite::{End, Rewrite};
use super::state::{Dir, State, Timeouts};
use super::table::KEPT;
use crate::config::{DestId, MAX_DEST_IDS};
use std::hash::{Hash, Hasher};
use std::net::Ipv6Addr;

/// One direction's 5-tuple plus the NIC it arrives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct FlowKey<A = u32> {
    pub src: A,
    pub dst: A,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    /// 0: arrives on the external NIC (client → VIP); 1: on the internal NIC.
    pub side: u8,
    pad: u16,
}

const _: () = assert!(size_of::<FlowKey>() == 16);
const _: () = assert!(size_of::<FlowKey<Ipv6Addr>>() == 40);

impl<A: Addr> FlowKey<A> {
    #[inline]
    pub fn new(side: u8, proto: u8, src: A, sport: u16, dst: A, dport: u16) -> Self {
        Self {
            src,
            dst,
            sport,
            dport,
            proto,
            side,
            pad: 0,
        }
    }
}

impl<A: Addr> Hash for FlowKey<A> {
    /// Whole words instead of seven fields (two for IPv4, five for IPv6): the
    /// same equality, fewer hasher rounds.
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        A::hash_pair(self.src, self.dst, h);
        h.write_u64(
            u64::from(self.sport)
                | u64::from(self.dport) << 16
                | u64::from(self.proto) << 32
                | u64::from(self.side) << 40,
        );
    }
}

/// The link bits of `Conn::prev` and `Conn::next`; their top two bits each hold
/// half of the entry's lag (see the module docs).
pub(super) const LINK: u32 = (1 << 30) - 1;
/// No entry (end of a list).
pub(super) const NIL: u32 = LINK;
/// `Conn::prev` of a free slab entry (no slab index reaches it: see `MAX_CONNS`).
pub(super) const FREE: u32 = LINK - 1;

/// A tracked connection: the addresses and ports of both legs, its state, its real
/// server and its expiry-list links. The checksum updates of the rewrites are not
/// stored: [`Conn::rewrite`] derives them from the addresses (one one's
/// complement addition per changed 16-bit word, three for IPv4 and nine for
/// IPv6, cheaper than the bytes they would take in every entry).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Conn<A = u32> {
    pub client: A,
    pub vip: A,
    pub rip: A,
    /// Last second the connection was seen (on the caller's clock).
    pub seen: u32,
    /// Links of the expiry list ([`LINK`] bits), and the lag in the top bits.
    pub(super) prev: u32,
    pub(super) next: u32,
    pub cport: u16,
    pub vport: u16,
    pub rport: u16,
    /// The real server's [`DestId`] (ids are below [`MAX_DEST_IDS`] = 2^16).
    dest: u16,
    /// Generation of the persistence template the connection is counted on, 0
    /// for none (see `nat::persist`; these 2 bytes were padding), and
    /// [`TEMPLATE_ASSURED`] once the connection has assured it: read the
    /// generation with [`Conn::template_gen`].
    pub template: u16,
    pub proto: u8,
    pub state: State,
}

/// The bit of `Conn::template` that says the connection has assured its
/// template (`nat::persist`'s `Templates::assure`): a UDP connection does
/// it at its first reply, and only then. Template generations stay below it.
pub const TEMPLATE_ASSURED: u16 = 1 << 15;

const _: () = assert!(MAX_DEST_IDS <= 1 << 16);
const _: () = assert!(size_of::<Conn>() == 36);
const _: () = assert!(size_of::<Conn<Ipv6Addr>>() == 72);

impl<A: Addr> Conn<A> {
    /// The generation of the template the connection is counted on (0:
    /// none), without the [`TEMPLATE_ASSURED`] bit.
    #[inline]
    pub fn template_gen(&self) -> u16 {
        self.template & !TEMPLATE_ASSURED
    }

    pub fn new(
        proto: u8,
        (client, cport): (A, u16),
        (vip, vport): (A, u16),
        (rip, rport): (A, u16),
        dest: DestId,
    ) -> Self {
        debug_assert!(dest.0 < MAX_DEST_IDS);
        Self {
            client,
            cport,
            vip,
            vport,
            rip,
            rport,
            proto,
            state: match proto {
                17 => State::Udp,
                132 => State::SctpNone,
                _ => State::None,
            },
            dest: dest.0 as u16,
            template: 0,
            seen: 0,
            prev: NIL,
            next: NIL,
        }
    }

    /// The real server this connection goes to.
    #[inline]
    pub fn dest(&self) -> DestId {
        DestId(u32::from(self.dest))
    }

    #[inline]
    pub(super) fn prev(&self) -> u32 {
        self.prev & LINK
    }

    #[inline]
    pub(super) fn next(&self) -> u32 {
        self.next & LINK
    }

    #[inline]
    pub(super) fn set_prev(&mut self, v: u32) {
        self.prev = (self.prev & !LINK) | v;
    }

    #[inline]
    pub(super) fn set_next(&mut self, v: u32) {
        self.next = (self.next & !LINK) | v;
    }

    /// Whether the connection is kept past its timeout because it controls
    /// others, on the table's list of re-arms (`table/later.rs`): due again
    /// [`EXPIRE_LATER`] seconds after it was kept, whatever its state, as
    /// IPVS's `expire_later` sets `cp->timeout` to 60 s.
    #[inline]
    pub fn kept(&self) -> bool {
        self.lag() == KEPT
    }

    /// Seconds left at `now` before the expiry looks at the connection
    /// (`-L -c`'s expire column, as the kernel shows its timer): its
    /// state's timeout from its last packet or, kept, the [`EXPIRE_LATER`]
    /// seconds from when it was kept (it is marked seen a second before).
    pub fn expires_in(&self, now: u32, timeouts: &Timeouts) -> u32 {
        let (since, timeout) = match self.kept() {
            true => (self.seen.saturating_add(1), EXPIRE_LATER),
            false => (self.seen, timeouts.secs(self.state)),
        };
        timeout.saturating_sub(now.saturating_sub(since))
    }

    /// How many seconds `seen` ran ahead of the second the entry was linked.
    #[inline]
    pub(super) fn lag(&self) -> u32 {
        (self.prev >> 30) | (self.next >> 30) << 2
    }

    #[inline]
    pub(super) fn set_lag(&mut self, lag: u32) {
        debug_assert!(lag <= KEPT);
        self.prev = (self.prev & LINK) | (lag & 3) << 30;
        self.next = (self.next & LINK) | (lag >> 2 & 3) << 30;
    }

    /// The key of packets from the client (external NIC).
    #[inline]
    pub fn in_key(&self) -> FlowKey<A> {
        FlowKey::new(0, self.proto, self.client, self.cport, self.vip, self.vport)
    }

    /// The key of packets from the real server (internal NIC).
    #[inline]
    pub fn out_key(&self) -> FlowKey<A> {
        FlowKey::new(1, self.proto, self.rip, self.rport, self.client, self.cport)
    }

    #[inline]
    pub(super) fn key(&self, side: u32) -> FlowKey<A> {
        if side == 0 {
            self.in_key()
        } else {
            self.out_key()
        }
    }

    /// The rewrite of a packet going `dir`: input (client → real server) turns
    /// VIP:vport into RIP:rport at the destination, output turns RIP:rport back
    /// into VIP:vport at the source.
    #[inline]
    pub fn rewrite(&self, dir: Dir) -> Rewrite<A> {
        let (end, (from, fport), (to, tport)) = match dir {
            Dir::Input => (End::Dst, (self.vip, self.vport), (self.rip, self.rport)),
            Dir::Output => (End::Src, (self.rip, self.rport), (self.vip, self.vport)),
        };
        // RFC 1624 §3: each changed 16-bit word m → m' adds ~m + m'.
        let addr_delta = from.delta(to);
        Rewrite {
            end,
            addr: to,
            port: tport,
            addr_delta,
            l4_delta: addr_delta.add16(fport, tport),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::nat::addr::TestAddr;
    use proptest::prelude::*;

    /// The internet checksum of `data`, summed here word by word (RFC 1071)
    /// rather than by `wire::checksum`, so the test does not share its code.
    fn internet_checksum(data: &[u8]) -> u16 {
        let mut acc: u64 = data
            .chunks(2)
            .map(|w| u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum();
        while acc > 0xffff {
            acc = (acc >> 16) + (acc & 0xffff);
        }
        !(acc as u16)
    }

    /// The checksum of an upper-layer packet `l4` (its checksum field zero)
    /// from `src` to `dst`: over the IPv4 pseudo-header (RFC 793 §3.1) or the
    /// IPv6 one (RFC 8200 §8.1), by the address's length.
    fn l4_checksum<A: TestAddr>(src: A, dst: A, next: u8, l4: &[u8]) -> u16 {
        let mut buf = src.bytes();
        buf.extend(dst.bytes());
        if buf.len() == 8 {
            buf.extend([0, next]);
            buf.extend((l4.len() as u16).to_be_bytes());
        } else {
            buf.extend((l4.len() as u32).to_be_bytes());
            buf.extend([0, 0, 0, next]);
        }
        buf.extend(l4);
        internet_checksum(&buf)
    }

    /// A TCP segment from `sport` to `dport` with `payload`, checksum zero.
    fn segment(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8; 20];
        s[0..2].copy_from_slice(&sport.to_be_bytes());
        s[2..4].copy_from_slice(&dport.to_be_bytes());
        s[12] = 5 << 4;
        s.extend(payload);
        s
    }

    /// A packet's checksum updated by the connection's rewrite equals the
    /// checksum computed afresh over the rewritten packet, both ways: the TCP
    /// one with `l4_delta`, and one over the addresses alone (an ICMPv6
    /// message's pseudo-header) with `addr_delta`.
    fn deltas_equal_a_recompute<A: TestAddr>(h: [u128; 3], ports: [u16; 3], payload: &[u8]) {
        let ([client, vip, rip], [cport, vport, rport]) = (h.map(A::in_test_net), ports);
        let c = Conn::new(6, (client, cport), (vip, vport), (rip, rport), DestId(1));
        // (source, destination) of the packet before and after each rewrite.
        let cases = [
            (
                Dir::Input,
                (client, cport),
                (vip, vport),
                (client, cport),
                (rip, rport),
            ),
            (
                Dir::Output,
                (rip, rport),
                (client, cport),
                (vip, vport),
                (client, cport),
            ),
        ];
        for (dir, (s0, sp0), (d0, dp0), (s1, sp1), (d1, dp1)) in cases {
            let rw = c.rewrite(dir);
            let (addr, port) = match rw.end {
                End::Dst => (d1, dp1),
                End::Src => (s1, sp1),
            };
            assert_eq!((rw.addr, rw.port), (addr, port));
            let before = l4_checksum(s0, d0, 6, &segment(sp0, dp0, payload));
            let after = l4_checksum(s1, d1, 6, &segment(sp1, dp1, payload));
            assert_eq!(rw.l4_delta.apply(before), after, "{dir:?} TCP");
            let before = l4_checksum(s0, d0, 58, payload);
            let after = l4_checksum(s1, d1, 58, payload);
            assert_eq!(rw.addr_delta.apply(before), after, "{dir:?} ICMPv6");
        }
    }

    #[test]
    fn rewrite_deltas_equal_a_recompute() {
        let hosts = proptest::array::uniform3(any::<u128>());
        let ports = proptest::array::uniform3(any::<u16>());
        let payload = proptest::collection::vec(any::<u8>(), 0..64);
        proptest!(|(h in hosts, p in ports, payload in payload)| {
            deltas_equal_a_recompute::<u32>(h, p, &payload);
            deltas_equal_a_recompute::<std::net::Ipv6Addr>(h, p, &payload);
        });
    }
}
