//! What identifies a service, and its address family: the protocol
//! ([`Proto`]), the key ([`ServiceKey`]: protocol, address, port, in
//! ipvsadm's sort order), the persistence granularity in the service's
//! family ([`Netmask`]) and IPVS's rule for a real server of the other
//! family (`check_family`).

use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::{AdmError, Forward};

/// The FTP control port (`FTPPORT`, `ip_vs_core.c`): a TCP service on it
/// also takes the VIP's FTP data connections (`nat::Snapshot::service_for`),
/// and its templates are the kernel's `<caddr, 0, vaddr, 0, daddr, 0>`.
pub const FTP_PORT: u16 = 21;

/// The FTP data port (`FTPDATA`, `ip_vs_core.c`): a client packet from it is
/// never scheduled (`ip_vs_schedule`), being an active FTP data connection
/// that a real server opens, not a client.
pub const FTP_DATA_PORT: u16 = 20;

/// Transport protocol of a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    /// IP protocol number (6, 17 or 132).
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Sctp => 132,
        }
    }

    /// The protocol of IP protocol number `n`, if a service can have it.
    pub fn from_number(n: u8) -> Option<Proto> {
        match n {
            6 => Some(Proto::Tcp),
            17 => Some(Proto::Udp),
            132 => Some(Proto::Sctp),
            _ => None,
        }
    }

    /// The name ipvsadm prints in listings: `TCP`, `UDP` or `SCTP`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
            Proto::Sctp => "SCTP",
        }
    }

    /// The name in lower case: `tcp`, `udp` or `sctp` (as `/etc/services`,
    /// iptables and keepalived's notify lines write it).
    pub fn lower(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    /// The protocol named `name` in either case (`tcp`, `UDP`, `Sctp`).
    pub fn from_name(name: &str) -> Option<Proto> {
        [Proto::Tcp, Proto::Udp, Proto::Sctp]
            .into_iter()
            .find(|p| p.lower().eq_ignore_ascii_case(name))
    }

    /// The ipvsadm option that selects this protocol: `-t`, `-u` or
    /// `--sctp-service` (which has no short form).
    pub fn option(self) -> &'static str {
        match self {
            Proto::Tcp => "-t",
            Proto::Udp => "-u",
            Proto::Sctp => "--sctp-service",
        }
    }
}

impl From<Proto> for u8 {
    fn from(p: Proto) -> u8 {
        p.number()
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Identity of a virtual service: protocol, address and port.
///
/// `Ord` is the order in which ipvsadm sorts services in `-L` and `-S`
/// output (libipvs `ipvs_cmp_services`): family (IPv4 first), then protocol
/// number, then address, then port.  A [`Config`] itself keeps services in
/// insertion order.
///
/// Port 0 means "every port"; ipvsadm only allows it on persistent services.
///
/// A firewall-mark service (`-f MARK`, [`ServiceKey::fwmark`]) is known by
/// its mark alone, as IPVS knows it (`ip_vs_svc_fwm_find`, `ip_vs_ctl.c`):
/// its address is the unspecified one of its family, its port 0 and its
/// protocol TCP (what ipvsadm sends); which packets carry the mark is said
/// by the service's `--mark-dest` rules ([`MarkDest`](super::MarkDest)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceKey {
    pub proto: Proto,
    pub addr: IpAddr,
    pub port: u16,
    /// The firewall mark of a `-f` service; 0 for any other.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mark: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl ServiceKey {
    pub fn new(proto: Proto, addr: impl Into<IpAddr>, port: u16) -> Self {
        ServiceKey {
            proto,
            addr: addr.into(),
            port,
            mark: 0,
        }
    }

    /// The firewall-mark service `mark` (`-f MARK`, with `-6` for IPv6).
    pub fn fwmark(mark: u32, ipv6: bool) -> Self {
        let addr = if ipv6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        ServiceKey {
            proto: Proto::Tcp,
            addr,
            port: 0,
            mark,
        }
    }

    /// A firewall-mark service (`-f`).
    pub fn is_fwmark(&self) -> bool {
        self.mark != 0
    }

    /// The protocol number, virtual address and port of the service's
    /// persistence templates: its own, or for a firewall-mark service
    /// IPVS's (`ip_vs_sched_persist`: `IPPROTO_IP`, the mark in the first
    /// 32 bits of the address, port 0; `nat::mark::fwmark_id`).
    pub fn template_vip(&self) -> (u8, IpAddr, u16) {
        match (self.mark, self.addr) {
            (0, addr) => (self.proto.number(), addr, self.port),
            (m, IpAddr::V4(_)) => (0, IpAddr::V4(Ipv4Addr::from_bits(m)), 0),
            (m, IpAddr::V6(_)) => (0, IpAddr::V6(super::mark::mark_addr6(m)), 0),
        }
    }

    /// The IPv4 address of an IPv4 service.
    pub fn addr4(&self) -> Option<Ipv4Addr> {
        match self.addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }

    /// The IPv6 address of an IPv6 service.
    pub fn addr6(&self) -> Option<Ipv6Addr> {
        match self.addr {
            IpAddr::V4(_) => None,
            IpAddr::V6(a) => Some(a),
        }
    }

    /// What ipvsadm sorts by, in its order (libipvs `ipvs_cmp_services`:
    /// the mark first, so firewall-mark services come last).
    fn sort_key(&self) -> (u32, bool, Proto, IpAddr, u16) {
        (
            self.mark,
            self.addr.is_ipv6(),
            self.proto,
            self.addr,
            self.port,
        )
    }
}

impl Ord for ServiceKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for ServiceKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ServiceKey {
    /// `TCP 198.18.0.110:80`, `TCP [2001:2::110]:80`; a firewall-mark
    /// service as ipvsadm lists it: `FWM 1`, `FWM 1 IPv6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_fwmark() {
            let v6 = if self.addr.is_ipv6() { " IPv6" } else { "" };
            return write!(f, "FWM {}{v6}", self.mark);
        }
        match self.addr {
            IpAddr::V4(a) => write!(f, "{} {a}:{}", self.proto.name(), self.port),
            IpAddr::V6(a) => write!(f, "{} [{a}]:{}", self.proto.name(), self.port),
        }
    }
}

/// A service's persistence granularity (`-M`), in the service's family.
///
/// The kernel keeps one 32-bit `netmask` per service and reads it after the
/// service's family: an IPv4 netmask, or for an IPv6 service a prefix length
/// that must be 1..=128 (`ip_vs_ctl.c`, `ip_vs_add_service` and
/// `ip_vs_edit_service`: `EINVAL` otherwise; `ip_vs_core.c`,
/// `ip_vs_sched_persist` masks an IPv6 client with `ipv6_addr_prefix`).
/// Serialized untagged: an IPv4 mask as its dotted string, as before there
/// was IPv6, a prefix length as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Netmask {
    /// An IPv4 netmask (`-M 255.255.255.0`); client addresses are ANDed with it.
    V4(Ipv4Addr),
    /// An IPv6 prefix length (`-M 64`); clients are cut to this prefix.
    V6(u8),
}

impl Netmask {
    /// No granularity for an IPv4 service: each client address is its own.
    pub const HOST4: Netmask = Netmask::V4(Ipv4Addr::BROADCAST);
    /// No granularity for an IPv6 service (ipvsadm's `parse_service` sets 128).
    pub const HOST6: Netmask = Netmask::V6(128);

    /// The host mask of `addr`'s family (what a service has without `-M`).
    pub fn host(addr: IpAddr) -> Netmask {
        if addr.is_ipv6() {
            Netmask::HOST6
        } else {
            Netmask::HOST4
        }
    }

    /// A host mask of either family: no granularity.
    pub fn is_host(self) -> bool {
        self == Netmask::HOST4 || self == Netmask::HOST6
    }

    /// Whether the kernel would take this mask for a service at `addr`:
    /// the same family, and an IPv6 prefix in 1..=128.
    pub fn fits(self, addr: IpAddr) -> bool {
        match (self, addr) {
            (Netmask::V4(_), IpAddr::V4(_)) => true,
            (Netmask::V6(p), IpAddr::V6(_)) => (1..=128).contains(&p),
            _ => false,
        }
    }

    /// The host-order IPv4 mask, for an IPv4 service's mask.
    pub fn v4_bits(self) -> Option<u32> {
        match self {
            Netmask::V4(m) => Some(u32::from(m)),
            Netmask::V6(_) => None,
        }
    }

    /// `client` reduced to its persistence group: ANDed with an IPv4 mask, cut
    /// to an IPv6 prefix (`ipv6_addr_prefix`). A client of the other family
    /// is returned unchanged.
    pub fn apply(self, client: IpAddr) -> IpAddr {
        match (self, client) {
            (Netmask::V4(m), IpAddr::V4(a)) => IpAddr::V4(a & m),
            (Netmask::V6(p), IpAddr::V6(a)) => {
                let bits = u32::from(p.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
            (_, other) => other,
        }
    }
}

impl From<Ipv4Addr> for Netmask {
    fn from(m: Ipv4Addr) -> Self {
        Netmask::V4(m)
    }
}

impl fmt::Display for Netmask {
    /// As ipvsadm prints it after `mask` (`-L`) and `-M` (`-S`): the dotted
    /// quad of an IPv4 mask (`inet_ntoa`), the number of an IPv6 prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netmask::V4(m) => write!(f, "{m}"),
            Netmask::V6(p) => write!(f, "{p}"),
        }
    }
}

/// Refuses a real server at `addr` forwarded by `forward` for a service at
/// `svc`: only a tunnelled one may be of the other family (`ip_vs_ctl.c`,
/// `ip_vs_genl_set_cmd`; ipvsadm checks it first, in `process_options`).
pub(super) fn check_family(svc: IpAddr, addr: IpAddr, forward: Forward) -> Result<(), AdmError> {
    if svc.is_ipv6() != addr.is_ipv6() && !matches!(forward, Forward::Tunnel(_)) {
        return Err(AdmError::MixedFamily);
    }
    Ok(())
}

/// Whether a new real server's address is one the kernel takes
/// (`ip_vs_new_dest`, `ip_vs_ctl.c`): IPv4 `inet_addr_type` local or
/// unicast, so not 0.0.0.0/8, the broadcast address nor multicast; IPv6
/// `ipv6_addr_type` unicast and not link-local (a link-local address of
/// the host's own would pass there; the director has none), so not the
/// unspecified address, multicast nor an IPv4-mapped address.
pub(super) fn unicast(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => !(a.octets()[0] == 0 || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => {
            !(a.is_unspecified()
                || a.is_multicast()
                || a.is_unicast_link_local()
                || a.to_ipv4_mapped().is_some())
        }
    }
}
