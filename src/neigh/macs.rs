//! The resolved neighbors of one family on one NIC, as the workers read them
//! for every forwarded frame: a map, fronted by a small direct-mapped array.
//!
//! The array has [`FRONT`] places; a neighbor's place is a multiplicative
//! hash of its address, and the first neighbor published into a place keeps
//! it. A lookup whose address is in its place costs one multiply, one load
//! and one compare; any other (a neighbor that lost its place, an unknown
//! one) falls through to the map. The next hops a director forwards to are
//! few (a gateway, some real servers, on-link clients), so nearly all of
//! them sit in the array. The snapshot is immutable: the array is built once,
//! when the control thread publishes it, and needs no invalidation.
//!
//! Measured: the map's lookup was 9.5 % of the software path's time at 1k
//! connections (`ringvs-bench software`, `perf record`); `docs/benchmarks.md`
//! ("Software path") has the before and after.

use crate::wire::Mac;
use hashbrown::HashMap;
use std::hash::Hash;
use std::net::Ipv6Addr;

/// Places in the array (a power of two).
pub const FRONT: usize = 64;
const FRONT_BITS: u32 = FRONT.trailing_zeros();

/// An address with a place in the array.
pub trait Place: Copy + Eq + Hash {
    /// The place of this address, below [`FRONT`].
    fn place(self) -> usize;
    /// A hash of the address whose low bits spread consecutive addresses
    /// (the flags of `super::used`).
    fn mix(self) -> u64;
}

impl Place for u32 {
    #[inline]
    fn place(self) -> usize {
        // Fibonacci hashing: the top bits of the product mix every bit of
        // the address, so consecutive addresses spread over the places.
        (self.wrapping_mul(0x9e37_79b9) >> (32 - FRONT_BITS)) as usize
    }

    #[inline(always)]
    fn mix(self) -> u64 {
        // The product's top bits, brought down.
        u64::from(self).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32
    }
}

impl Place for Ipv6Addr {
    #[inline]
    fn place(self) -> usize {
        (self.mix() >> (32 - FRONT_BITS)) as usize
    }

    #[inline(always)]
    fn mix(self) -> u64 {
        let b = self.to_bits();
        let folded = (b as u64) ^ ((b >> 64) as u64);
        folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32
    }
}

/// Resolved neighbors: address → MAC.
#[derive(Clone, Debug)]
pub struct Macs<A> {
    map: HashMap<A, Mac>,
    front: Box<[Option<(A, Mac)>; FRONT]>,
}

impl<A: Place> Default for Macs<A> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            front: Box::new([None; FRONT]),
        }
    }
}

impl<A: Place> Macs<A> {
    /// The MAC of `ip`, if resolved.
    #[inline]
    pub fn get(&self, ip: A) -> Option<Mac> {
        match self.front[ip.place()] {
            Some((a, mac)) if a == ip => Some(mac),
            _ => self.map.get(&ip).copied(),
        }
    }

    /// Add (or change) `ip`'s MAC.
    pub fn insert(&mut self, ip: A, mac: Mac) {
        self.map.insert(ip, mac);
        let place = &mut self.front[ip.place()];
        match place {
            Some((a, m)) if *a == ip => *m = mac,
            Some(_) => {}
            None => *place = Some((ip, mac)),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests {
    use super::*;

    fn mac(i: u32) -> Mac {
        let b = i.to_be_bytes();
        Mac([2, 0, b[0], b[1], b[2], b[3]])
    }

    /// Every address is found with its latest MAC, whether it holds its place
    /// or fell through to the map (1000 addresses in 64 places collide), and
    /// nothing else is found.
    fn agrees_with_the_map<A: Place + std::fmt::Debug>(addr: impl Fn(u32) -> A) {
        let mut m = Macs::default();
        for i in 0..1000 {
            m.insert(addr(i), mac(i));
        }
        for i in (0..1000).step_by(7) {
            m.insert(addr(i), mac(i + 5000));
        }
        assert_eq!(m.len(), 1000);
        for i in 0..1000 {
            let want = if i % 7 == 0 { mac(i + 5000) } else { mac(i) };
            assert_eq!(m.get(addr(i)), Some(want), "{:?}", addr(i));
        }
        for i in 1000..1100 {
            assert_eq!(m.get(addr(i)), None);
        }
        let held = m.front.iter().flatten().count();
        assert!(held > FRONT / 2, "only {held} places used");
    }

    #[test]
    fn ipv4_agrees_with_the_map() {
        agrees_with_the_map(|i| 0xc612_0000 + i);
    }

    #[test]
    fn ipv6_agrees_with_the_map() {
        agrees_with_the_map(|i| Ipv6Addr::from_bits(0x2001_0002_u128 << 96 | u128::from(i)));
    }

    /// A handful of consecutive next hops (real servers) all get a place.
    #[test]
    fn consecutive_servers_each_have_a_place() {
        let places: std::collections::HashSet<usize> =
            (0..8u32).map(|i| (0xc613_0000 + i).place()).collect();
        assert_eq!(places.len(), 8);
    }
}
