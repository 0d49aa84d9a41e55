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

    #[test]
    fn no_such_interface_has_ipv6_on() {
        assert!(!ipv6_on("rvs-nope0"));
    }
}
