//! Which packets a firewall-mark service takes: its `--mark-dest` rules.
//!
//! In the kernel, `ipvsadm -A -f 1` serves the packets that a netfilter rule
//! marked (`iptables -t mangle -A PREROUTING -d VIP -p tcp -m multiport
//! --dports 80,443 -j MARK --set-mark 1`), and `ip_vs_service_find`
//! (`ip_vs_ctl.c`) looks for the mark's service before the address and
//! port's. ringvs's workers take frames before netfilter runs (AF_PACKET
//! and XDP see them first), so no kernel mark ever reaches them: a
//! firewall-mark service carries its marking rules itself, each a
//! protocol, a destination prefix and optionally ports
//! (`--mark-dest tcp:198.18.0.110:80,443`). A packet matching one is the
//! mark's, before any `-t`/`-u` service is looked at, as in IPVS.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{AdmError, Config, Proto, ServiceKey};

/// The most `--mark-dest` rules of one service.
pub const MAX_MARK_DESTS: usize = 64;
/// The most port ranges of one rule (iptables' `multiport` takes 15).
pub const MAX_MARK_PORTS: usize = 16;

/// One `--mark-dest PROTO:ADDR[/LEN][:PORTS]` rule: packets of `proto` to
/// `net/len`, to one of `ports` (inclusive ranges; none: every port).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MarkDest {
    pub proto: Proto,
    /// The prefix, its host bits cleared.
    pub net: IpAddr,
    pub len: u8,
    pub ports: Vec<(u16, u16)>,
}

impl MarkDest {
    /// The longest prefix of the rule's family (a single address).
    fn host_len(&self) -> u8 {
        if self.net.is_ipv6() { 128 } else { 32 }
    }

    /// A single address rather than a prefix (announced by gratuitous ARP
    /// or an unsolicited neighbor advertisement, as a VIP is).
    pub fn is_host(&self) -> bool {
        self.len == self.host_len()
    }

    /// Whether `addr` is inside the rule's prefix.
    pub fn covers(&self, addr: IpAddr) -> bool {
        match (self.net, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => mask_v4(a, self.len) == n,
            (IpAddr::V6(n), IpAddr::V6(a)) => mask_v6(a, self.len) == n,
            _ => false,
        }
    }

    /// Whether a packet of `proto` (a [`Proto`] or its IP protocol number)
    /// to `addr:port` matches the rule.
    pub fn matches(&self, proto: impl Into<u8>, addr: IpAddr, port: u16) -> bool {
        self.proto.number() == proto.into() && self.covers(addr) && ports_have(&self.ports, port)
    }

    /// Whether some packet would match both rules: one protocol, prefixes
    /// of which one holds the other, and a port in both.
    pub fn overlaps(&self, other: &MarkDest) -> bool {
        let shorter = if self.len <= other.len { self } else { other };
        let longer = if self.len <= other.len { other } else { self };
        self.proto == other.proto
            && shorter.covers(longer.net)
            && ports_meet(&self.ports, &other.ports)
    }
}

/// Whether `port` is one of `ports` (none: every port).
pub fn ports_have(ports: &[(u16, u16)], port: u16) -> bool {
    ports.is_empty() || ports.iter().any(|&(lo, hi)| lo <= port && port <= hi)
}

/// Whether two port lists (none: every port) share a port.
fn ports_meet(a: &[(u16, u16)], b: &[(u16, u16)]) -> bool {
    if a.is_empty() || b.is_empty() {
        return true;
    }
    a.iter()
        .any(|&(alo, ahi)| b.iter().any(|&(blo, bhi)| alo <= bhi && blo <= ahi))
}

/// Where IPVS puts a mark in an IPv6 address (a firewall-mark service's
/// template's, `ip_vs_sched_persist`: `htonl(fwmark)` in the first 32 bits
/// of `nf_inet_addr`); an IPv4 one is the mark itself.
pub fn mark_addr6(mark: u32) -> Ipv6Addr {
    Ipv6Addr::from_bits(u128::from(mark) << 96)
}

/// The mark [`mark_addr6`] put in `a`.
pub fn addr6_mark(a: Ipv6Addr) -> u32 {
    (a.to_bits() >> 96) as u32
}

/// `addr` with all but its first `len` bits cleared.
pub fn mask_v4(addr: Ipv4Addr, len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(addr) & mask_bits_v4(len))
}

/// The host-order mask of an IPv4 prefix of `len` bits.
pub fn mask_bits_v4(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

/// `addr` with all but its first `len` bits cleared.
pub fn mask_v6(addr: Ipv6Addr, len: u8) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(addr) & mask_bits_v6(len))
}

/// The mask of an IPv6 prefix of `len` bits.
pub fn mask_bits_v6(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

impl Config {
    /// Sets a firewall-mark service's marking rules (`--mark-dest`; `None`
    /// keeps them). Refused for a service without a mark, for a rule of the
    /// other family than the service's (`-6`), and for a rule some packet
    /// of which another mark's rules would take too: as iptables, where the
    /// last MARK rule wins, the packet would have one mark, and ringvs says
    /// so rather than choose.
    pub fn set_service_marks(
        &mut self,
        key: &ServiceKey,
        marks: Option<Vec<MarkDest>>,
    ) -> Result<(), AdmError> {
        let i = self.service_index(key).ok_or(AdmError::NoSuchService)?;
        let Some(marks) = marks else { return Ok(()) };
        if !key.is_fwmark() && !marks.is_empty() {
            return Err(AdmError::Usage(
                "--mark-dest is for a firewall-mark service (-f)".into(),
            ));
        }
        if marks.len() > MAX_MARK_DESTS {
            return Err(AdmError::Usage(format!(
                "more than {MAX_MARK_DESTS} --mark-dest rules for one service"
            )));
        }
        for m in &marks {
            if m.net.is_ipv6() != key.addr.is_ipv6() {
                let family = if key.addr.is_ipv6() { "IPv6" } else { "IPv4" };
                return Err(AdmError::Usage(format!(
                    "--mark-dest {m} is not {family}, as {key} is (-6 makes an IPv6 one)"
                )));
            }
            let other = self.services.iter().filter(|s| s.key != *key);
            for (s, o) in other.flat_map(|s| s.marks.iter().map(move |o| (s, o))) {
                if m.overlaps(o) {
                    return Err(AdmError::Usage(format!(
                        "--mark-dest {m} overlaps {o} of {}: a packet has one mark",
                        s.key
                    )));
                }
            }
        }
        self.services[i].marks = marks;
        Ok(())
    }
}

fn bad(arg: &str, why: &str) -> AdmError {
    AdmError::Usage(format!(
        "illegal --mark-dest `{arg}': {why} (PROTO:ADDR[/LEN][:PORT[-PORT][,...]], \
         PROTO tcp, udp or sctp, an IPv6 address in brackets)"
    ))
}

impl FromStr for MarkDest {
    type Err = AdmError;

    fn from_str(arg: &str) -> Result<Self, AdmError> {
        let (proto, rest) = arg.split_once(':').ok_or_else(|| bad(arg, "no protocol"))?;
        let proto =
            Proto::from_name(proto).ok_or_else(|| bad(arg, "the protocol is tcp, udp or sctp"))?;
        // The address: bracketed for IPv6, else up to a '/' or ':'.
        let (addr, rest): (IpAddr, &str) = if let Some(r) = rest.strip_prefix('[') {
            let (a, r) = r.split_once(']').ok_or_else(|| bad(arg, "no closing ]"))?;
            let a = a
                .parse::<Ipv6Addr>()
                .map_err(|_| bad(arg, "not an IPv6 address in the brackets"))?;
            (IpAddr::V6(a), r)
        } else {
            let end = rest.find(['/', ':']).unwrap_or(rest.len());
            let a = rest[..end]
                .parse::<Ipv4Addr>()
                .map_err(|_| bad(arg, "not an IPv4 address"))?;
            (IpAddr::V4(a), &rest[end..])
        };
        let max = if addr.is_ipv6() { 128 } else { 32 };
        let (len, rest) = match rest.strip_prefix('/') {
            Some(r) => {
                let end = r.find(':').unwrap_or(r.len());
                let len = r[..end]
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| bad(arg, "the prefix length is out of range"))?;
                (len, &r[end..])
            }
            None => (max, rest),
        };
        let ports = match rest.strip_prefix(':') {
            Some(list) => parse_ports(list).ok_or_else(|| bad(arg, "bad ports"))?,
            None if rest.is_empty() => Vec::new(),
            None => return Err(bad(arg, "junk after the address")),
        };
        if ports.len() > MAX_MARK_PORTS {
            return Err(bad(arg, "more than 16 port ranges"));
        }
        let net = match addr {
            IpAddr::V4(a) => IpAddr::V4(mask_v4(a, len)),
            IpAddr::V6(a) => IpAddr::V6(mask_v6(a, len)),
        };
        Ok(MarkDest {
            proto,
            net,
            len,
            ports,
        })
    }
}

/// `80`, `80,443`, `8000-8099,443`: ports 1..=65535, each range low to high.
fn parse_ports(list: &str) -> Option<Vec<(u16, u16)>> {
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p != 0);
    list.split(',')
        .map(|item| match item.split_once('-') {
            Some((lo, hi)) => Some((port(lo)?, port(hi)?)).filter(|(lo, hi)| lo <= hi),
            None => port(item).map(|p| (p, p)),
        })
        .collect()
}

impl fmt::Display for MarkDest {
    /// As `--mark-dest` takes it; a single address without its length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = self.proto.lower();
        match self.net {
            IpAddr::V4(a) => write!(f, "{proto}:{a}")?,
            IpAddr::V6(a) => write!(f, "{proto}:[{a}]")?,
        }
        if !self.is_host() {
            write!(f, "/{}", self.len)?;
        }
        for (i, &(lo, hi)) in self.ports.iter().enumerate() {
            f.write_str(if i == 0 { ":" } else { "," })?;
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(s: &str) -> MarkDest {
        s.parse().expect("a rule")
    }

    #[test]
    fn rules_parse_and_print_back() {
        for s in [
            "tcp:198.18.0.110:80,443",
            "udp:198.18.0.0/24",
            "tcp:198.18.0.110",
            "tcp:198.18.0.110:8000-8099,443",
            "tcp:[2001:2::110]:80",
            "udp:[2001:2::]/64:53",
            "tcp:0.0.0.0/0",
        ] {
            assert_eq!(md(s).to_string(), s);
        }
        // Host bits are cleared, as iptables clears them; the protocol's
        // case does not matter; a /32 is a host.
        assert_eq!(
            md("TCP:198.18.0.7/24:80").to_string(),
            "tcp:198.18.0.0/24:80"
        );
        assert_eq!(md("tcp:198.18.0.7/32").to_string(), "tcp:198.18.0.7");
        assert_eq!(
            md("SCTP:198.18.0.7:5000").to_string(),
            "sctp:198.18.0.7:5000"
        );
        for bad in [
            "198.18.0.1:80",
            "dccp:198.18.0.1",
            "tcp:198.18.0.1/33",
            "tcp:198.18.0.1:0",
            "tcp:198.18.0.1:90-80",
            "tcp:198.18.0.1:80,",
            "tcp:2001:2::1",
            "tcp:[2001:2::1",
            "tcp:[198.18.0.1]",
            "tcp:[2001:2::1]/129",
            "tcp:198.18.0.1x",
            "tcp:198.18.0.1:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
        ] {
            assert!(bad.parse::<MarkDest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_and_overlap() {
        let web = md("tcp:198.18.0.110:80,443");
        let v4 = |s: &str| IpAddr::V4(s.parse().expect("an address"));
        assert!(web.matches(Proto::Tcp, v4("198.18.0.110"), 443));
        assert!(!web.matches(Proto::Tcp, v4("198.18.0.110"), 8080));
        assert!(!web.matches(Proto::Udp, v4("198.18.0.110"), 80));
        assert!(!web.matches(Proto::Tcp, v4("198.18.0.111"), 80));
        let net = md("tcp:198.18.0.0/24:1000-2000");
        assert!(net.matches(Proto::Tcp, v4("198.18.0.9"), 1500));
        assert!(!net.matches(Proto::Tcp, v4("198.18.1.9"), 1500));
        let v6 = md("udp:[2001:2::]/64");
        assert!(v6.matches(Proto::Udp, "2001:2::1:2".parse().expect("v6"), 9));
        assert!(!v6.matches(Proto::Udp, v4("198.18.0.1"), 9));
        assert!(web.overlaps(&md("tcp:198.18.0.0/16:443")));
        assert!(md("tcp:198.18.0.0/16:443").overlaps(&web));
        assert!(web.overlaps(&md("tcp:198.18.0.110")));
        assert!(!web.overlaps(&md("tcp:198.18.0.0/16:81-442")));
        assert!(!web.overlaps(&md("udp:198.18.0.110:80")));
        assert!(!web.overlaps(&md("tcp:198.18.1.0/24")));
        assert!(!web.overlaps(&v6));
    }
}
