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
    let mtu = read_mtu(name).map_err(|err| NicError::Mtu {
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

/// The MTU of interface `name` now (sysfs, as `ip link` shows it).
pub fn read_mtu(name: &str) -> Result<usize, String> {
    let path = format!("/sys/class/net/{name}/mtu");
    std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|s| s.trim().parse::<usize>().map_err(|e| e.to_string()))
}

/// One IPv4 address of an interface as the kernel keeps it
/// (`struct in_ifaddr`): the address, its scope (`ifa_scope`:
/// `RT_SCOPE_UNIVERSE` 0, `RT_SCOPE_LINK` 253, `RT_SCOPE_HOST` 254, as
/// `ip addr add ... scope` sets it) and whether it is a secondary one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addr4 {
    pub addr: std::net::Ipv4Addr,
    pub scope: u8,
    pub secondary: bool,
}

impl Addr4 {
    /// `RT_SCOPE_UNIVERSE`: an address of global scope.
    pub const GLOBAL: u8 = 0;
}

/// Every interface's IPv4 addresses, by name, in the order of their index
/// (`lo` first), each interface's in the kernel's order (its primary
/// addresses before their secondaries), with their scope and flags as the
/// kernel's netlink dump gives them (`RTM_GETADDR`, [`ipv4_dump`]): what
/// the sync master picks its source from (`crate::sync`). Where netlink
/// cannot be read, the addresses `getifaddrs` gives, their scope guessed
/// from the address (`127.0.0.0/8` the host's, any other global).
pub fn ipv4_addrs() -> Vec<(String, Vec<Addr4>)> {
    let mut all = pnet_datalink::interfaces();
    all.sort_by_key(|i| i.index);
    let dump = ipv4_dump().ok();
    all.into_iter()
        .map(|i| {
            let v4: Vec<Addr4> = match &dump {
                Some(d) => d
                    .iter()
                    .filter(|(index, _)| *index == i.index)
                    .map(|&(_, a)| a)
                    .collect(),
                None => i
                    .ips
                    .iter()
                    .filter_map(|n| match n.ip() {
                        std::net::IpAddr::V4(addr) => Some(Addr4 {
                            addr,
                            scope: if addr.is_loopback() { 254 } else { 0 },
                            secondary: false,
                        }),
                        std::net::IpAddr::V6(_) => None,
                    })
                    .collect(),
            };
            (i.name, v4)
        })
        .collect()
}

/// Every IPv4 address of the host's interfaces, with its interface's
/// index, from the kernel's routing netlink (an `RTM_GETADDR` dump, as `ip
/// -4 addr` asks for it), in the kernel's order.
pub fn ipv4_dump() -> std::io::Result<Vec<(u32, Addr4)>> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::io::Read;
    let s = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW,
        Some(Protocol::from(libc::NETLINK_ROUTE)),
    )?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    // nlmsghdr (16 bytes) then ifaddrmsg (8): AF_INET, the rest 0.
    let mut req = [0u8; 24];
    req[0..4].copy_from_slice(&24u32.to_ne_bytes());
    req[4..6].copy_from_slice(&libc::RTM_GETADDR.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    req[16] = libc::AF_INET as u8;
    s.send(&req)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let n = (&s).read(&mut buf)?;
        match read_addr_dump(&buf[..n], &mut out) {
            Some(true) => return Ok(out),
            Some(false) if n > 0 => {}
            _ => return Err(std::io::Error::other("bad netlink address dump")),
        }
    }
}

/// The addresses in `buf`, one read of an `RTM_GETADDR` dump (netlink
/// messages: `nlmsghdr`, `ifaddrmsg`, attributes), added to `out`:
/// `Some(true)` at its end (`NLMSG_DONE`), `Some(false)` if more is to
/// come, `None` for an error or a message cut short.
pub fn read_addr_dump(buf: &[u8], out: &mut Vec<(u32, Addr4)>) -> Option<bool> {
    let u16_at =
        |b: &[u8], at: usize| Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?));
    let u32_at =
        |b: &[u8], at: usize| Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?));
    let mut at = 0;
    while at < buf.len() {
        let len = u32_at(buf, at)? as usize;
        let msg = buf.get(at..at + len).filter(|_| len >= 16)?;
        match i32::from(u16_at(msg, 4)?) {
            libc::NLMSG_DONE => return Some(true),
            libc::NLMSG_ERROR => return None,
            t if t == i32::from(libc::RTM_NEWADDR) => {
                let ifa = msg.get(16..24)?;
                let (family, flags, scope) = (ifa[0], ifa[2], ifa[3]);
                let index = u32_at(ifa, 4)?;
                let (mut local, mut address) = (None, None);
                let mut a = 24;
                while a + 4 <= msg.len() {
                    let alen = usize::from(u16_at(msg, a)?);
                    let value = msg.get(a + 4..a + alen).filter(|_| alen >= 4)?;
                    let v4 = <[u8; 4]>::try_from(value)
                        .ok()
                        .map(std::net::Ipv4Addr::from);
                    match u16_at(msg, a + 2)? {
                        libc::IFA_LOCAL => local = v4,
                        libc::IFA_ADDRESS => address = v4,
                        _ => {}
                    }
                    a += alen.div_ceil(4) * 4;
                }
                // IFA_LOCAL is the address itself (IFA_ADDRESS the peer's
                // on a point-to-point link).
                if let (true, Some(addr)) = (family == libc::AF_INET as u8, local.or(address)) {
                    let secondary = u32::from(flags) & libc::IFA_F_SECONDARY != 0;
                    out.push((
                        index,
                        Addr4 {
                            addr,
                            scope,
                            secondary,
                        },
                    ));
                }
            }
            _ => {}
        }
        at += len.div_ceil(4) * 4;
    }
    Some(false)
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

    /// The kernel's own answer: `lo`'s 127.0.0.1, of host scope (`ip addr`
    /// gives a loopback address `scope host`), primary; and what is not a
    /// netlink message is refused.
    #[test]
    fn netlink_gives_the_scope_of_los_address() {
        let dump = ipv4_dump().expect("an RTM_GETADDR dump");
        let lo = std::fs::read_to_string("/sys/class/net/lo/ifindex").expect("sysfs");
        let lo: u32 = lo.trim().parse().expect("an index");
        let want = Addr4 {
            addr: std::net::Ipv4Addr::LOCALHOST,
            scope: 254,
            secondary: false,
        };
        assert!(dump.contains(&(lo, want)), "{dump:?}");
        let named = ipv4_addrs();
        let (_, lo_addrs) = named.iter().find(|(n, _)| n == "lo").expect("lo");
        assert!(lo_addrs.contains(&want), "{lo_addrs:?}");
        let mut out = vec![];
        assert_eq!(read_addr_dump(&[40, 0, 0, 0, 20, 0], &mut out), None);
        assert!(out.is_empty());
    }

    #[test]
    fn no_such_interface_has_ipv6_on() {
        assert!(!ipv6_on("rvs-nope0"));
    }
}
