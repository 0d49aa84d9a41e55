//! On-link prefixes and next hops, one per NIC and address family.
//!
//! A packet goes to its destination's MAC when the destination is on-link, and
//! to the gateway of its own family otherwise: an IPv6 packet never goes to the
//! IPv4 gateway, nor the reverse.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A prefix of either family: `Prefix` (the default) is IPv4 with lengths
/// 0..32, [`Prefix6`] IPv6 with lengths 0..128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix<A = Ipv4Addr> {
    pub addr: A,
    pub len: u8,
}

/// An IPv6 prefix.
pub type Prefix6 = Prefix<Ipv6Addr>;

impl Prefix {
    /// Whether `ip` (host order, as the data plane keeps IPv4 addresses) is in
    /// the prefix.
    #[inline]
    pub fn contains(&self, ip: u32) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len.min(32)))
        };
        (ip & mask) == (u32::from(self.addr) & mask)
    }

    /// Whether `ip` (host order) is the prefix's broadcast address, which
    /// Linux gives a broadcast route for a prefix up to /30
    /// (`fib_add_ifaddr`: `RTN_BROADCAST` for `prefix | ~mask` when shorter
    /// than /31; the network address has been unicast since Linux 5.14), so
    /// that no host can use it as its source (`__fib_validate_source`).
    #[inline]
    pub fn is_broadcast(&self, ip: u32) -> bool {
        let host = u32::MAX.checked_shr(u32::from(self.len)).unwrap_or(0);
        self.len < 31 && self.contains(ip) && ip & host == host
    }
}

impl Prefix6 {
    /// Whether `ip` is in the prefix.
    #[inline]
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.len.min(128)))
        };
        (u128::from(ip) & mask) == (u128::from(self.addr) & mask)
    }
}

/// `ADDRESS/LENGTH` for a family whose addresses are `A` and lengths 0..=`max`.
fn parse<A: std::str::FromStr>(
    s: &str,
    max: u8,
    example: &str,
    family: &str,
) -> Result<(A, u8), String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| format!("{s}: expected ADDRESS/PREFIX, e.g. {example}"))?;
    let addr = a
        .parse()
        .map_err(|_| format!("{s}: {a} is not an {family} address"))?;
    let len = l
        .parse::<u8>()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("{s}: prefix length must be 0..{max}"))?;
    Ok((addr, len))
}

impl std::str::FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = parse(s, 32, "198.18.0.2/24", "IPv4")?;
        Ok(Self { addr, len })
    }
}

impl std::str::FromStr for Prefix6 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = parse(s, 128, "2001:2:0:1::1/64", "IPv6")?;
        Ok(Self { addr, len })
    }
}

/// Where an IPv4 packet to `dst` goes next on a NIC: `dst` itself when
/// on-link, the gateway otherwise; `None` when there is no way.
#[inline]
pub fn next_hop(net: &Prefix, gateway: Option<Ipv4Addr>, dst: u32) -> Option<u32> {
    if net.contains(dst) {
        Some(dst)
    } else {
        gateway.map(u32::from)
    }
}

/// Where an IPv6 packet to `dst` goes next on a NIC: `dst` itself when it is
/// in `net` or link-local (fe80::/10 is on-link on every link, RFC 4861 §5.2),
/// the IPv6 gateway otherwise; `None` when there is no way.
#[inline]
pub fn next_hop6(net: &Prefix6, gateway: Option<Ipv6Addr>, dst: Ipv6Addr) -> Option<Ipv6Addr> {
    if net.contains(dst) || dst.is_unicast_link_local() {
        Some(dst)
    } else {
        gateway
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// The last address of a prefix up to /30 is its broadcast address, as
    /// Linux's `fib_add_ifaddr` routes it; the first (since Linux 5.14), a
    /// /31's or a /32's are not, nor another prefix's.
    #[test]
    fn the_broadcast_address_of_a_prefix() {
        let ip = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        let net = p("198.18.0.2/24");
        assert!(net.is_broadcast(ip("198.18.0.255")));
        for other in ["198.18.0.0", "198.18.0.254", "198.18.1.255", "198.19.0.255"] {
            assert!(!net.is_broadcast(ip(other)), "{other}");
        }
        assert!(p("198.18.0.5/30").is_broadcast(ip("198.18.0.7")));
        assert!(!p("198.18.0.6/31").is_broadcast(ip("198.18.0.7")));
        assert!(!p("198.18.0.7/32").is_broadcast(ip("198.18.0.7")));
        assert!(p("0.0.0.0/0").is_broadcast(u32::MAX));
    }

    #[test]
    fn next_hop_on_link_or_gateway() {
        let net: Prefix = "198.18.0.2/24".parse().unwrap();
        let c = u32::from_be_bytes([198, 18, 0, 1]);
        let far = u32::from_be_bytes([198, 18, 9, 1]);
        let gw = Ipv4Addr::new(198, 18, 0, 254);
        assert_eq!(next_hop(&net, Some(gw), c), Some(c));
        assert_eq!(next_hop(&net, Some(gw), far), Some(u32::from(gw)));
        assert_eq!(next_hop(&net, None, far), None);
        assert!("1.2.3.4".parse::<Prefix>().is_err());
        assert!("1.2.3.4/33".parse::<Prefix>().is_err());
        assert!("2001:2::1/64".parse::<Prefix>().is_err());
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn next_hop6_on_link_link_local_or_the_v6_gateway() {
        let net: Prefix6 = "2001:2:0:1::1/64".parse().unwrap();
        assert_eq!((net.addr, net.len), (v6("2001:2:0:1::1"), 64));
        let client = v6("2001:2:0:1::7");
        let far = v6("2001:2:0:9::7");
        let gw = v6("2001:2:0:1::fe");
        assert_eq!(next_hop6(&net, Some(gw), client), Some(client));
        assert_eq!(next_hop6(&net, Some(gw), far), Some(gw));
        assert_eq!(next_hop6(&net, None, far), None);
        // A link-local gateway or neighbor is on-link whatever the prefix.
        let ll = v6("fe80::1");
        assert_eq!(next_hop6(&net, None, ll), Some(ll));
        assert_eq!(next_hop6(&net, Some(ll), far), Some(ll));
    }

    #[test]
    fn prefix6_lengths_from_0_to_128() {
        let p = |s: &str| s.parse::<Prefix6>();
        let any = p("::/0").unwrap();
        assert!(any.contains(v6("2001:2::1")) && any.contains(v6("ffff::1")));
        let host = p("2001:2:0:2::2/128").unwrap();
        assert!(host.contains(v6("2001:2:0:2::2")));
        assert!(!host.contains(v6("2001:2:0:2::3")));
        // A length that splits a group: /52 keeps 2001:2:0:0xxx.
        let mid = p("2001:2:0:0fff::/52").unwrap();
        assert!(mid.contains(v6("2001:2:0:0abc::1")));
        assert!(!mid.contains(v6("2001:2:0:1000::1")));
        for bad in [
            "2001:2::1",
            "2001:2::1/129",
            "2001:2::1/x",
            "198.18.0.1/24",
            "2001:2::g/64",
        ] {
            let e = p(bad).expect_err(bad);
            assert!(e.starts_with(bad), "{e}");
        }
        assert_eq!(
            p("2001:2::1/129").unwrap_err(),
            "2001:2::1/129: prefix length must be 0..128"
        );
    }
}
