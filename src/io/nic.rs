//! NIC discovery: index, MAC address and MTU of an interface, by name.

use crate::wire::Mac;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum NicError {
    #[error("interface {0} does not exist (see `ip link`)")]
    Missing(String),
    #[error("interface {0} is down: bring it up with `ip link set {0} up`")]
    Down(String),
    #[error("interface {0} has no Ethernet MAC address")]
    NoMac(String),
    #[error("cannot read the MTU of {name}: {err}")]
    Mtu { name: String, err: String },
}

/// What the data plane needs to know of a NIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicInfo {
    pub name: String,
    pub index: i32,
    pub mac: Mac,
    pub mtu: usize,
}

/// Look a NIC up by name (via `pnet_datalink`'s interface list; MTU from sysfs).
pub fn discover(name: &str) -> Result<NicInfo, NicError> {
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| NicError::Missing(name.to_string()))?;
    if !iface.is_up() {
        return Err(NicError::Down(name.to_string()));
    }
    let mac = iface
        .mac
        .filter(|m| !m.is_zero())
        .ok_or_else(|| NicError::NoMac(name.to_string()))?;
    let path = format!("/sys/class/net/{name}/mtu");
    let mtu = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|s| s.trim().parse::<usize>().map_err(|e| e.to_string()))
        .map_err(|err| NicError::Mtu {
            name: name.to_string(),
            err,
        })?;
    Ok(NicInfo {
        name: name.to_string(),
        index: iface.index as i32,
        mac: Mac(mac.octets()),
        mtu,
    })
}

/// Every interface's IPv4 addresses, by name, in the order of their index
/// (`lo` first), each interface's in the kernel's order (its primary
/// addresses before their secondaries): what the sync master picks its
/// source from (`crate::sync`).
pub fn ipv4_addrs() -> Vec<(String, Vec<std::net::Ipv4Addr>)> {
    let mut all = pnet_datalink::interfaces();
    all.sort_by_key(|i| i.index);
    all.into_iter()
        .map(|i| {
            let v4 = i.ips.iter().filter_map(|n| match n.ip() {
                std::net::IpAddr::V4(a) => Some(a),
                std::net::IpAddr::V6(_) => None,
            });
            let v4 = v4.collect();
            (i.name, v4)
        })
        .collect()
}

/// Whether the kernel has IPv6 on for interface `name`
/// (`net.ipv6.conf.NAME.disable_ipv6` is 0): false where it is off, or where
/// the kernel has no IPv6 at all.
pub fn ipv6_on(name: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"))
        .is_ok_and(|s| s.trim() == "0")
}

/// The kernel's link-local IPv6 address on interface `name`, if it has a
/// valid one (not tentative: still in duplicate address detection), read
/// from `/proc/net/if_inet6` ([`link_local_in`]): the source of the MLD
/// reports, as the kernel's `ipv6_get_lladdr(dev, .., IFA_F_TENTATIVE)`
/// picks it for its own (`net/ipv6/mcast.c`, `mld_newpack`, `igmp6_send`).
/// `None` where IPv6 is off or the file cannot be read.
pub fn link_local6(name: &str) -> Option<std::net::Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/net/if_inet6").ok()?;
    link_local_in(&text, name)
}

/// The first link-local address of interface `name` in `text`, lines of
/// `/proc/net/if_inet6` (the address in 32 hex digits, the interface's
/// index, the prefix length, the scope, the flags, all hex, and the name:
/// `if6_seq_show`), whose scope is the link's (`IPV6_ADDR_LINKLOCAL`,
/// 0x20) and which is not tentative (`IFA_F_TENTATIVE`, 0x40). A line it
/// cannot read is skipped.
pub fn link_local_in(text: &str, name: &str) -> Option<std::net::Ipv6Addr> {
    const SCOPE_LINK: u32 = 0x20;
    const TENTATIVE: u32 = 0x40;
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [addr, _, _, scope, flags, ifname] = f[..] else {
            return None;
        };
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let addr = u128::from_str_radix(addr, 16)
            .ok()
            .filter(|_| addr.len() == 32)?;
        let addr = std::net::Ipv6Addr::from(addr);
        let link = hex(scope)? == SCOPE_LINK && addr.is_unicast_link_local();
        (ifname == name && link && hex(flags)? & TENTATIVE == 0).then_some(addr)
    })
}

/// How many receive queues the NIC has (`/sys/class/net/NAME/queues/rx-*`); 0 if
/// sysfs cannot say.
pub fn rx_queues(name: &str) -> usize {
    queues(name, "rx-")
}

/// Transmit queues of interface `name` in use (its `tx-*` queues in sysfs,
/// which follow `ethtool -L`); 0 if it cannot be read.
pub fn tx_queues(name: &str) -> usize {
    queues(name, "tx-")
}

fn queues(name: &str, prefix: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn loopback_has_no_mac_and_missing_is_clear() {
        assert!(matches!(discover("lo"), Err(NicError::NoMac(_))));
        let e = discover("rvs-nope0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "interface rvs-nope0 does not exist (see `ip link`)"
        );
    }

    /// The link-local address of the NIC asked about, from lines as the
    /// kernel writes them; not a tentative one, not another scope's, not
    /// another NIC's, and none from a line it cannot read.
    #[test]
    fn the_link_local_address_is_the_nics_valid_one() {
        let text = "\
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000000000000000aa 02 40 20 80     eth9
200100020000000100000000000000bb 03 40 00 80     ext0
fe8000000000000000ee00fffe000001 03 40 20 c0     ext0
fe8000000000000000ee00fffe000002 03 40 20 80     ext0
fe80 03 40 20 80     ext0
fe8000000000000000ee00fffe000003 04 40 20 80
";
        let want: std::net::Ipv6Addr = "fe80::ee:ff:fe00:2".parse().unwrap();
        assert_eq!(link_local_in(text, "ext0"), Some(want));
        assert_eq!(link_local_in(text, "lo"), None, "::1 is the host's");
        assert_eq!(link_local_in(text, "int0"), None);
        let tentative = "fe8000000000000000ee00fffe000001 03 40 20 40     ext0\n";
        assert_eq!(link_local_in(tentative, "ext0"), None);
        assert_eq!(link_local6("rvs-nope0"), None);
    }

    #[test]
    fn no_such_interface_has_ipv6_on() {
        assert!(!ipv6_on("rvs-nope0"));
    }
}
