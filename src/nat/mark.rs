//! Firewall-mark services as the workers find them: the `--mark-dest`
//! rules (`config/mark.rs`) of every `-f` service, matched before the
//! services of an address and port, as `ip_vs_service_find` (`ip_vs_ctl.c`)
//! looks up `__ip_vs_svc_fwm_find` first.
//!
//! A firewall-mark service's id in the snapshot's maps is IPVS's template
//! key for it (`ip_vs_sched_persist`, `ip_vs_core.c`): protocol 0
//! (`IPPROTO_IP`), the mark as the address (`htonl(fwmark)` in the first 32
//! bits of `nf_inet_addr`) and port 0. So its persistence templates, keyed
//! by the service id, cover every protocol, address and port the mark is
//! on, and sync as the kernel's do.
//!
//! Also the other step of `ip_vs_service_find` before the port-0 service:
//! a TCP packet to an FTP data port takes the VIP's FTP service
//! ([`ftp_data`]).

use super::{ServiceId, ServiceId6};
use crate::config::{Config, addr6_mark, mark_addr6, mask_bits_v4, mask_bits_v6};

pub use crate::config::{FTP_DATA_PORT, FTP_PORT};

/// Whether a TCP packet to `port` may be an FTP data connection that the
/// VIP's FTP service takes when no service has the port (`ip_vs_service_find`,
/// `ip_vs_ctl.c`: `FTPDATA`, or a port `inet_port_requires_bind_service` does
/// not reserve, i.e. 1024 and up by default).
#[inline]
pub(super) fn ftp_data(proto: u8, port: u16) -> bool {
    proto == 6 && (port == FTP_DATA_PORT || port >= 1024)
}

/// The id of IPv4 firewall-mark service `mark`.
pub fn fwmark_id(mark: u32) -> ServiceId {
    (0, mark, 0)
}

/// The id of IPv6 firewall-mark service `mark`.
pub fn fwmark_id6(mark: u32) -> ServiceId6 {
    (0, mark_addr6(mark), 0)
}

/// The mark of IPv4 service `id`, 0 unless a firewall-mark service's.
pub fn mark_of(id: ServiceId) -> u32 {
    if id.0 == 0 { id.1 } else { 0 }
}

/// The mark of IPv6 service `id`, 0 unless a firewall-mark service's.
pub fn mark_of6(id: ServiceId6) -> u32 {
    if id.0 == 0 { addr6_mark(id.1) } else { 0 }
}

/// One rule: packets of `proto` whose destination ANDed with `mask` is
/// `net`, to one of `ports` (none: every port), are service `svc`'s.
#[derive(Debug)]
struct Rule<B, Id> {
    proto: u8,
    net: B,
    mask: B,
    ports: Box<[(u16, u16)]>,
    svc: Id,
}

/// The rules of one family, in the services' order; no two of them share
/// a packet (`Config::set_service_marks` refuses overlaps), so the first
/// match is the only one.
///
/// A rule's single address is a VIP like any other (the snapshot's
/// `vips`: announced, and answered for ARP, neighbor solicitations and
/// echo requests); the addresses of a prefix are not: the router upstream
/// routes the prefix to the director, as it would route it to a kernel
/// director whose `-f` service serves it.
#[derive(Debug)]
pub struct Marks<B, Id> {
    rules: Box<[Rule<B, Id>]>,
}

impl<B, Id> Default for Marks<B, Id> {
    fn default() -> Self {
        Marks {
            rules: Box::default(),
        }
    }
}

impl<B, Id> Marks<B, Id>
where
    B: Copy + Eq + std::ops::BitAnd<Output = B>,
    Id: Copy,
{
    /// The firewall-mark service of a packet of `proto` to `addr:port`:
    /// a walk over the rules, made for packets of no connection only.
    #[inline]
    pub fn find(&self, proto: u8, addr: B, port: u16) -> Option<Id> {
        self.rules
            .iter()
            .find(|r| {
                r.proto == proto
                    && addr & r.mask == r.net
                    && crate::config::ports_have(&r.ports, port)
            })
            .map(|r| r.svc)
    }

    /// Whether some rule's prefix holds `addr`, whatever the protocol and
    /// port: a fragment to it may be the mark's (only the first carries
    /// the ports; the reassembled datagram is matched whole).
    pub fn covers(&self, addr: B) -> bool {
        self.rules.iter().any(|r| addr & r.mask == r.net)
    }
}

/// The rules of every firewall-mark service of `cfg`, IPv4 and IPv6.
pub fn build(cfg: &Config) -> (Marks<u32, ServiceId>, Marks<u128, ServiceId6>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for s in cfg.services().iter().filter(|s| s.key.is_fwmark()) {
        for m in &s.marks {
            let (proto, ports) = (m.proto.number(), m.ports.clone().into_boxed_slice());
            let (mark, len) = (s.key.mark, m.len);
            match m.net {
                std::net::IpAddr::V4(n) => v4.push(Rule {
                    proto,
                    ports,
                    net: n.to_bits(),
                    mask: mask_bits_v4(len),
                    svc: fwmark_id(mark),
                }),
                std::net::IpAddr::V6(n) => v6.push(Rule {
                    proto,
                    ports,
                    net: n.to_bits(),
                    mask: mask_bits_v6(len),
                    svc: fwmark_id6(mark),
                }),
            }
        }
    }
    (Marks { rules: v4.into() }, Marks { rules: v6.into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ipvsadm::{apply, parse};

    fn cfg(lines: &[&str]) -> Config {
        let mut cfg = Config::new();
        for l in lines {
            let argv: Vec<String> = l.split_whitespace().map(String::from).collect();
            apply(&mut cfg, &parse(&argv).expect("a command")).expect("applied");
        }
        cfg
    }

    #[test]
    fn rules_find_their_service_and_nothing_else() {
        let c = cfg(&[
            "-A -f 1 -s rr --mark-dest tcp:198.18.0.110:80,443 --mark-dest udp:198.18.0.110:53",
            "-A -f 2 -s rr --mark-dest tcp:198.18.1.0/24:1000-2000",
            "-A -f 3 -6 -s rr --mark-dest tcp:[2001:2::]/64",
        ]);
        let (m4, m6) = build(&c);
        let a = |s: &str| s.parse::<std::net::Ipv4Addr>().expect("v4").to_bits();
        assert_eq!(m4.find(6, a("198.18.0.110"), 443), Some(fwmark_id(1)));
        assert_eq!(m4.find(17, a("198.18.0.110"), 53), Some(fwmark_id(1)));
        assert_eq!(m4.find(17, a("198.18.0.110"), 80), None);
        assert_eq!(m4.find(6, a("198.18.0.111"), 80), None);
        assert_eq!(m4.find(6, a("198.18.1.7"), 1500), Some(fwmark_id(2)));
        assert_eq!(m4.find(6, a("198.18.1.7"), 2001), None);
        let b = |s: &str| s.parse::<std::net::Ipv6Addr>().expect("v6").to_bits();
        assert_eq!(m6.find(6, b("2001:2::9"), 9), Some(fwmark_id6(3)));
        assert_eq!(m6.find(6, b("2001:2:0:1::9"), 9), None);
        // The IPv6 id holds the mark where IPVS's template address does.
        assert_eq!(
            fwmark_id6(3).1,
            "0:3::".parse::<std::net::Ipv6Addr>().expect("v6")
        );
    }
}
