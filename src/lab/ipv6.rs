//! The lab's IPv6 plan (issue 15, item 7), used when [`super::LabOptions::ipv6`]
//! is set: addresses in 2001:2::/48 (RFC 5180's benchmarking prefix) beside the
//! IPv4 ones, and the host settings that keep the kernels' IPv6 quiet.
//!
//! ```text
//!  client c0        2001:2:0:1::1/64      (VIP 2001:2:0:1::110 on-link)
//!  director ext0    2001:2:0:1::2/64      ringvs only (--ext-addr), no kernel IPv6
//!  director int0    2001:2:0:2::1/64      the DIP6, ringvs only (--int-addr)
//!  rsN eth0         2001:2:0:2::(1+N)/64  default via 2001:2:0:2::1
//! ```
//!
//! * Addresses are added with `nodad` and duplicate address detection is off
//!   (`accept_dad=0`, `dad_transmits=0`), router solicitations are not sent
//!   (`router_solicitations=0`), router advertisements not accepted
//!   (`accept_ra=0`, `autoconf=0`): a host's only NDP traffic is the
//!   solicitations and advertisements its own traffic needs, plus the MLD
//!   reports the kernel sends when an address joins its solicited-node group
//!   (no sysctl turns those off).
//! * The director's namespace keeps IPv6 disabled, so its kernel never answers
//!   a neighbor solicitation: only ringvs does.
//! * The switch's bridge has multicast snooping off, so a solicitation to a
//!   solicited-node group reaches every port whatever MLD reports it saw
//!   (ringvs sends none).

use super::{LabError, ip, ns_run};
use std::net::Ipv6Addr;

/// The IPv6 virtual IP the client connects to (on the client's subnet).
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
/// The client's IPv6 address, on `c0`.
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
/// The client's IPv6 address with its prefix, as configured on `c0`.
pub const CLIENT6_CIDR: &str = "2001:2:0:1::1/64";
/// The director's external IPv6 address (ringvs's `--ext-addr`); never
/// configured in the kernel.
pub const EXT_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 2);
/// [`EXT_ADDR6`] with its prefix.
pub const EXT_ADDR6_CIDR: &str = "2001:2:0:1::2/64";
/// The director's IPv6 address on the real servers' subnet: their gateway.
pub const DIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1);
/// [`DIP6`] with its prefix (ringvs's `--int-addr`); never configured in the
/// kernel.
pub const INT_ADDR6_CIDR: &str = "2001:2:0:2::1/64";
/// The prefix length of both IPv6 subnets.
pub const PREFIX6_LEN: u8 = 64;

/// IPv6 address of real server `n` (1-based): 2001:2:0:2::(1 + n), the last
/// group in hex (rs9 is `::a`, rs200 is `::c9`).
///
/// `n` must be in `1..=MAX_REAL_SERVERS`; other values are clamped into it.
pub fn rs_addr6(n: usize) -> Ipv6Addr {
    let n = n.clamp(1, super::MAX_REAL_SERVERS);
    // n <= 200, so 1 + n fits in a u16.
    Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1 + n as u16)
}

/// The per-interface IPv6 settings of a quiet host, as `sysctl -w` arguments
/// for `key` (`all`, `default` or an interface name): no DAD, no router
/// solicitations, no router advertisements or autoconfiguration, and then
/// (last, so that an interface that is up gets its link-local address
/// without DAD) IPv6 on. Writing `all.disable_ipv6` turns every interface of
/// the namespace on at once: quiet the interfaces before `all`.
pub fn quiet_ipv6_sysctls(key: &str) -> Vec<String> {
    [
        "accept_dad=0",
        "dad_transmits=0",
        "router_solicitations=0",
        "accept_ra=0",
        "autoconf=0",
        "accept_redirects=0",
        "disable_ipv6=0",
    ]
    .iter()
    .map(|kv| format!("net.ipv6.conf.{key}.{kv}"))
    .collect()
}

/// Turn IPv6 on, quietly, for `key` (`all`, `default` or an interface) in `ns`.
pub fn enable_quiet_ipv6(ns: &str, key: &str) -> Result<(), LabError> {
    for kv in quiet_ipv6_sysctls(key) {
        ns_run(ns, "sysctl", &["-qw", &kv])?;
    }
    Ok(())
}

/// Add `cidr` to `ifname` in `ns` without duplicate address detection, after
/// turning IPv6 on quietly for the interface. Call it before the link goes up
/// (no router solicitation is sent then).
pub fn add_addr6(ns: &str, ifname: &str, cidr: &str) -> Result<(), LabError> {
    enable_quiet_ipv6(ns, ifname)?;
    ip(&["-n", ns, "-6", "addr", "add", cidr, "dev", ifname, "nodad"]).map(drop)
}

/// A default IPv6 route in `ns` via `gw` on `ifname`.
pub fn default_route6(ns: &str, gw: Ipv6Addr, ifname: &str) -> Result<(), LabError> {
    let gw = gw.to_string();
    #[rustfmt::skip]
    let args = ["-n", ns, "-6", "route", "add", "default", "via", &gw, "dev", ifname];
    ip(&args).map(drop)
}
