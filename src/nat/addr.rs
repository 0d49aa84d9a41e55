//! The address families of the connection table: [`Addr`], implemented for
//! `u32` (an IPv4 address in host order, as the IPv4 fast path has always
//! carried it) and [`Ipv6Addr`].
//!
//! [`Conn`](super::Conn), [`FlowKey`](super::FlowKey),
//! [`ConnTable`](super::ConnTable), [`Rewrite`](super::rewrite::Rewrite) and the
//! persistence templates take the family as a type parameter that defaults to
//! `u32`, so an IPv4 table is exactly what it was (a 36-byte entry) and an IPv6
//! table is a table of its own with wider entries, instead of one table whose
//! every entry has room for 16-byte addresses. `Ipv6Addr` is 16 bytes aligned to
//! 1, so it adds no padding wherever it sits in an entry.
//!
//! Everything the table and the rewrites need from an address is here: the
//! words its hash is fed, the RFC 1624 checksum update of replacing it, the
//! persistence mask (`-M`), and the conversions to and from [`IpAddr`].

use crate::wire::checksum::Delta;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address the connection table can hold: `u32` (IPv4, host order) or
/// [`Ipv6Addr`].
pub trait Addr: Copy + Eq + Hash + Debug + Send + Sync + 'static {
    /// The `-M` value that keeps the whole address: 255.255.255.255 for IPv4,
    /// a prefix length of 128 for IPv6.
    const FULL_MASK: u32;

    /// Feed a flow key's two addresses to `h` in as few `u64` words as the
    /// family allows: one for IPv4, four for IPv6.
    fn hash_pair<H: Hasher>(a: Self, b: Self, h: &mut H);

    /// The incremental checksum update (RFC 1624 §3) of this address changing
    /// to `to`, in a checksum that covers it as 16-bit words: the IPv4 header,
    /// and the TCP, UDP and ICMPv6 pseudo-headers.
    fn delta(self, to: Self) -> Delta;

    /// The client address of a persistence template under `mask`, the
    /// service's `-M` (`ip_vs_sched_persist`, `ip_vs_core.c`): for IPv4 a
    /// host-order netmask (`addr & mask`), for IPv6 a prefix length
    /// (`ipv6_addr_prefix`; above 128 counts as 128).
    fn masked(self, mask: u32) -> Self;

    /// All the address's bits folded into a `u64` (for IPv4 the address
    /// itself): input for mixing functions, not a hash.
    fn fold(self) -> u64;

    /// The whole address as a `u128`: an IPv4 address in the low 32 bits.
    fn wide(self) -> u128;

    fn to_ip(self) -> IpAddr;

    /// The address if `ip` is of this family.
    fn from_ip(ip: IpAddr) -> Option<Self>;
}

impl Addr for u32 {
    const FULL_MASK: u32 = u32::MAX;

    #[inline]
    fn hash_pair<H: Hasher>(a: Self, b: Self, h: &mut H) {
        h.write_u64(u64::from(a) | u64::from(b) << 32);
    }

    #[inline]
    fn delta(self, to: Self) -> Delta {
        Delta::new().add32(self, to)
    }

    #[inline]
    fn masked(self, mask: u32) -> Self {
        self & mask
    }

    #[inline]
    fn fold(self) -> u64 {
        u64::from(self)
    }

    #[inline]
    fn wide(self) -> u128 {
        u128::from(self)
    }

    #[inline]
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self))
    }

    #[inline]
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(a) => Some(a.to_bits()),
            IpAddr::V6(_) => None,
        }
    }
}

impl Addr for Ipv6Addr {
    const FULL_MASK: u32 = 128;

    #[inline]
    fn hash_pair<H: Hasher>(a: Self, b: Self, h: &mut H) {
        let (a, b) = (a.to_bits(), b.to_bits());
        h.write_u64((a >> 64) as u64);
        h.write_u64(a as u64);
        h.write_u64((b >> 64) as u64);
        h.write_u64(b as u64);
    }

    #[inline]
    fn delta(self, to: Self) -> Delta {
        // Eight 16-bit words, taken as four aligned pairs.
        let (o, n) = (self.to_bits(), to.to_bits());
        Delta::new()
            .add32((o >> 96) as u32, (n >> 96) as u32)
            .add32((o >> 64) as u32, (n >> 64) as u32)
            .add32((o >> 32) as u32, (n >> 32) as u32)
            .add32(o as u32, n as u32)
    }

    #[inline]
    fn masked(self, mask: u32) -> Self {
        let keep = u128::MAX.checked_shl(128 - mask.min(128)).unwrap_or(0);
        Ipv6Addr::from_bits(self.to_bits() & keep)
    }

    #[inline]
    fn fold(self) -> u64 {
        let b = self.to_bits();
        (b >> 64) as u64 ^ b as u64
    }

    #[inline]
    fn wide(self) -> u128 {
        self.to_bits()
    }

    #[inline]
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(self)
    }

    #[inline]
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
}

/// The address folded to 32 bits as IPVS folds an IPv6 address for its
/// hashing schedulers (`ip_vs_sh.c` `ip_vs_sh_hashkey`, `ip_vs_dh.c`
/// `ip_vs_dh_hashkey`, `ip_vs_mh.c` `ip_vs_mh_hashkey`, `ip_vs_lblc.c`
/// `ip_vs_lblc_hashkey`: the XOR of its four 32-bit words); an IPv4 address
/// is itself. What the schedulers see of an address ([`crate::sched::Flow`],
/// `DestEntry::addr`), so that every bit of an IPv6 address moves the hash.
#[inline]
pub fn fold32<A: Addr>(a: A) -> u32 {
    let f = a.fold();
    (f as u32) ^ (f >> 32) as u32
}

/// Test addresses of both families from a number, so one test body runs over
/// IPv4 and IPv6.
#[cfg(test)]
pub(crate) trait TestAddr: Addr {
    /// The `-M` of the persistence tests: a /24, or a /120.
    const MASK24: u32;
    /// The address of 198.18.0.0/15, or of 2001:2::/48, whose host bits are
    /// the low bits of `bits`.
    fn in_test_net(bits: u128) -> Self;
    /// Host `n` of the test network.
    fn host(n: u32) -> Self {
        Self::in_test_net(n.into())
    }
    /// The address's bytes in network order.
    fn bytes(self) -> Vec<u8> {
        match self.to_ip() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        }
    }
}

#[cfg(test)]
impl TestAddr for u32 {
    const MASK24: u32 = 0xffff_ff00;
    fn in_test_net(bits: u128) -> Self {
        u32::from(Ipv4Addr::new(198, 18, 0, 0)) | (bits as u32 & 0x1_ffff)
    }
}

#[cfg(test)]
impl TestAddr for Ipv6Addr {
    const MASK24: u32 = 120;
    fn in_test_net(bits: u128) -> Self {
        let net = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0).to_bits();
        Ipv6Addr::from_bits(net | (bits & ((1 << 80) - 1)))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::checksum::{checksum, sum};

    #[test]
    fn ipv6_masks_by_prefix_length() {
        let a: Ipv6Addr = "2001:2:0:1:aaaa:bbbb:cccc:dddd".parse().unwrap();
        let m = |p| a.masked(p).to_string();
        assert_eq!(m(128), "2001:2:0:1:aaaa:bbbb:cccc:dddd");
        assert_eq!(m(200), "2001:2:0:1:aaaa:bbbb:cccc:dddd");
        assert_eq!(m(64), "2001:2:0:1::");
        assert_eq!(m(60), "2001:2::");
        assert_eq!(m(1), "::");
        assert_eq!(m(0), "::");
        assert_eq!(0xc612_0a0b_u32.masked(0xffff_ff00), 0xc612_0a00);
    }

    #[test]
    fn ip_conversions_keep_the_family() {
        let v4 = u32::host(7);
        let v6 = Ipv6Addr::host(7);
        assert_eq!(v4.to_ip().to_string(), "198.18.0.7");
        assert_eq!(v6.to_ip().to_string(), "2001:2::7");
        assert_eq!(u32::from_ip(v4.to_ip()), Some(v4));
        assert_eq!(Ipv6Addr::from_ip(v6.to_ip()), Some(v6));
        assert_eq!(u32::from_ip(v6.to_ip()), None);
        assert_eq!(Ipv6Addr::from_ip(v4.to_ip()), None);
    }

    /// A checksum over the address, updated by `delta`, equals the one
    /// computed over the new address (the rest of the data unchanged).
    fn delta_matches_recompute<A: TestAddr>(a: A, b: A) {
        let mut data = a.bytes();
        data.extend_from_slice(&[0x12, 0x34, 0x00, 0x06]);
        let before = checksum(&data);
        let mut after = b.bytes();
        after.extend_from_slice(&data[after.len()..]);
        assert_ne!(sum(&after), 0);
        assert_eq!(a.delta(b).apply(before), checksum(&after), "{a:?} -> {b:?}");
    }

    #[test]
    fn deltas_match_a_recompute() {
        use proptest::prelude::*;
        proptest!(|(a in any::<u32>(), b in any::<u32>(), c in any::<u128>(), d in any::<u128>())| {
            delta_matches_recompute(a, b);
            delta_matches_recompute(Ipv6Addr::from_bits(c), Ipv6Addr::from_bits(d));
        });
    }
}
