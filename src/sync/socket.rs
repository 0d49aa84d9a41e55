//! The sync daemons' kernel UDP sockets on the sync interface, for an IPv4 or
//! an IPv6 group (`--mcast-group`), set up as IPVS's `make_send_sock` and
//! `make_receive_sock` set up theirs (`ip_vs_sync.c`), in the family of the
//! group (`mcast_af`). The messages are the same over either family.

use super::daemon::DaemonConfig;
use crate::io::nic::Addr4;
use crate::io::sockopt;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6, UdpSocket};

/// How the sockets reach the group on the sync interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// An IPv4 group, through the interface of index `index`
    /// (`IP_MULTICAST_IF` and `IP_ADD_MEMBERSHIP` by index, as IPVS's
    /// `set_mcast_if` and `join_mcast_group`); the master binds `bind`,
    /// [`master_source`]'s choice or `0.0.0.0` (`bind_mcastif_addr`).
    V4 {
        group: Ipv4Addr,
        index: u32,
        bind: Ipv4Addr,
    },
    /// An IPv6 group, through the interface's index (`IPV6_MULTICAST_IF`,
    /// `IPV6_JOIN_GROUP`); the kernel picks the source address, as for
    /// IPVS's IPv6 master, which binds none.
    V6 { group: Ipv6Addr, index: u32 },
}

/// The address the IPv4 master binds, of `links` (every interface's IPv4
/// addresses, in index order, as `io::nic::ipv4_addrs` reads them), as
/// IPVS's `bind_mcastif_addr` picks it (`inet_select_addr` of the sync
/// interface, `net/ipv4/devinet.c`): the sync interface's first primary
/// address of global scope, else the first primary one of global scope on
/// any interface, `lo` first. `None` when there is none: IPVS then logs
/// that the interface probably needs an address and binds `0.0.0.0`, and
/// so does ringvs.
///
/// An address's scope is the kernel's (`ifa_scope`, read from netlink):
/// one given `scope link` or `scope host` by hand is passed over, as
/// `inet_select_addr` passes it over.
pub fn master_source(ifname: &str, links: &[(String, Vec<Addr4>)]) -> Option<Ipv4Addr> {
    let global = |a: &&Addr4| a.scope == Addr4::GLOBAL && !a.secondary;
    let own = links.iter().filter(|(name, _)| name == ifname);
    let others = links.iter();
    own.chain(others)
        .find_map(|(_, addrs)| addrs.iter().find(global).map(|a| a.addr))
}

/// The master's socket, connected to the group and port: bound to the sync
/// interface (`SO_BINDTODEVICE`, ringvs's choice: `make_send_sock` only sets
/// the multicast interface, `set_mcast_if`), sending out of it with the TTL (hop limit) and without
/// loopback of its own messages, and with path-MTU discovery off
/// (`IP_PMTUDISC_DONT`, as `make_send_sock` sets it: a message longer than a
/// smaller MTU on the way is fragmented rather than dropped).
///
/// Socket `id` of the master's `sync_ports` sends to the group's port + `id`
/// (`get_mcast_sockaddr`, which adds the thread's id to `mcast_port` in 16
/// bits, so a port near 65535 wraps, as there).
pub fn master(c: &DaemonConfig, via: Via, id: u16) -> io::Result<UdpSocket> {
    let s = sender(c, via)?;
    let port = c.port.wrapping_add(id);
    match via {
        Via::V4 { group, bind, .. } => {
            s.bind(&SocketAddrV4::new(bind, 0).into())?;
            s.connect(&SocketAddrV4::new(group, port).into())?;
        }
        // A link-local group names its interface (the scope id).
        Via::V6 { group, index } => s.connect(&SocketAddrV6::new(group, port, 0, index).into())?,
    }
    Ok(s.into())
}

/// [`master`]'s socket before it binds and connects: its options.
fn sender(c: &DaemonConfig, via: Via) -> io::Result<Socket> {
    let s = Socket::new(domain(via), Type::DGRAM, Some(Protocol::UDP))?;
    s.bind_device(Some(c.ifname.as_bytes()))?;
    let dont = libc::IP_PMTUDISC_DONT;
    sockopt::set_int(&s, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, dont)?;
    match via {
        Via::V4 { index, .. } => {
            sockopt::set_multicast_if_v4_index(&s, index)?;
            s.set_multicast_ttl_v4(u32::from(c.ttl))?;
            s.set_multicast_loop_v4(false)?;
        }
        Via::V6 { index, .. } => {
            s.set_multicast_if_v6(index)?;
            s.set_multicast_hops_v6(u32::from(c.ttl))?;
            s.set_multicast_loop_v6(false)?;
            // `set_mcast_pmtudisc` sets the IPv6 socket's own setting too.
            let dont = libc::IPV6_PMTUDISC_DONT;
            sockopt::set_int(&s, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, dont)?;
        }
    }
    Ok(s)
}

/// The backup's socket: the group's port on the sync interface, joined to
/// the group there by the interface's index (as IPVS's `make_receive_sock`
/// binds the group address and `join_mcast_group` joins by index: an IPv4
/// group needs no IPv4 address on the interface, and IPVS logs nothing);
/// non-blocking (the daemon waits on all its sockets at once). Socket `id`
/// of the backup's `sync_ports` binds the group's port + `id`, as
/// `make_receive_sock` binds each thread's ([`master`]).
pub fn backup(c: &DaemonConfig, via: Via, id: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(domain(via), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(c.ifname.as_bytes()))?;
    let port = c.port.wrapping_add(id);
    match via {
        Via::V4 { group, index, .. } => {
            s.bind(&SocketAddrV4::new(group, port).into())?;
            s.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(index))?;
        }
        Via::V6 { group, index } => {
            s.bind(&SocketAddrV6::new(group, port, 0, index).into())?;
            s.join_multicast_v6(&group, index)?;
        }
    }
    s.set_nonblocking(true)?;
    s.set_recv_buffer_size(4 << 20)?;
    Ok(s.into())
}

fn domain(via: Via) -> Domain {
    match via {
        Via::V4 { .. } => Domain::IPV4,
        Via::V6 { .. } => Domain::IPV6,
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::config::ipvsadm::SyncRole;
    use crate::sync::wire;

    fn on_lo(group: std::net::IpAddr, ttl: u8) -> DaemonConfig {
        DaemonConfig {
            role: SyncRole::Master,
            ifname: "lo".into(),
            syncid: 1,
            maxlen: 1472,
            group,
            port: wire::DEFAULT_PORT,
            ttl,
        }
    }

    /// `lo`'s interface index.
    fn lo_index() -> u32 {
        let s = std::fs::read_to_string("/sys/class/net/lo/ifindex").expect("sysfs");
        s.trim().parse().expect("an index")
    }

    fn int(s: &impl std::os::fd::AsFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        sockopt::int(s, level, name).expect("getsockopt")
    }

    /// The IPv4 master's socket leaves path-MTU discovery off, as
    /// `make_send_sock` does (`IP_PMTUDISC_DONT`; a UDP socket starts with
    /// `IP_PMTUDISC_WANT`): made on `lo`, which needs no lab, and read back.
    #[test]
    fn the_ipv4_masters_socket_does_not_discover_the_path_mtu() {
        let group = wire::DEFAULT_GROUP;
        let c = on_lo(group.into(), 1);
        let (index, bind) = (lo_index(), Ipv4Addr::LOCALHOST);
        let via = Via::V4 { group, index, bind };
        let s = master(&c, via, 0).expect("a master socket on lo");
        let pmtudisc = int(&s, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER);
        assert_eq!(pmtudisc, libc::IP_PMTUDISC_DONT);
        assert_eq!(
            s.peer_addr().expect("connected").to_string(),
            "224.0.0.81:8848"
        );
    }

    /// The address the IPv4 master binds, as `bind_mcastif_addr` picks it:
    /// the sync interface's own (not a loopback one), else another
    /// interface's in index order, else none (`0.0.0.0`, with a warning).
    #[test]
    fn the_ipv4_master_binds_its_interfaces_address_else_anothers_else_none() {
        let a = |s: &str| -> Ipv4Addr { s.parse().expect("an address") };
        // "ADDR" of global scope, "ADDR/SCOPE", "ADDR/s" a secondary one.
        let one = |s: &str| match s.split_once('/') {
            Some((ip, "s")) => Addr4 {
                addr: a(ip),
                scope: 0,
                secondary: true,
            },
            Some((ip, scope)) => Addr4 {
                addr: a(ip),
                scope: scope.parse().expect("a scope"),
                secondary: false,
            },
            None => Addr4 {
                addr: a(s),
                scope: 0,
                secondary: false,
            },
        };
        let links = |l: &[(&str, &[&str])]| -> Vec<(String, Vec<Addr4>)> {
            l.iter()
                .map(|(n, addrs)| (n.to_string(), addrs.iter().map(|s| one(s)).collect()))
                .collect()
        };
        let lo: (&str, &[&str]) = ("lo", &["127.0.0.1/254"]);
        let own = links(&[
            lo,
            ("eth0", &["198.18.0.1"]),
            ("sync0", &["127.0.0.2/254", "198.18.9.1", "198.18.9.2/s"]),
        ]);
        assert_eq!(master_source("sync0", &own), Some(a("198.18.9.1")));
        // An address given `scope link` (or host) by hand, and a secondary
        // one, are passed over, on the sync interface as elsewhere.
        let scoped = links(&[
            lo,
            ("eth0", &["198.18.0.9/253", "198.18.0.8/s", "198.18.0.1"]),
            ("sync0", &["198.18.9.1/253", "198.18.9.3/s"]),
        ]);
        assert_eq!(master_source("sync0", &scoped), Some(a("198.18.0.1")));
        let other = links(&[
            lo,
            ("ext0", &[]),
            ("eth0", &["198.18.0.1"]),
            ("eth1", &["198.18.1.1"]),
            ("sync0", &[]),
        ]);
        assert_eq!(master_source("sync0", &other), Some(a("198.18.0.1")));
        let none = links(&[lo, ("ext0", &[]), ("sync0", &[])]);
        assert_eq!(master_source("sync0", &none), None);
    }

    /// An IPv4 master without an address to bind binds `0.0.0.0` and still
    /// connects to the group out of its interface (by index, which needs no
    /// address), as IPVS's master starts after its warning.
    #[test]
    fn an_ipv4_master_without_an_address_still_connects_to_the_group() {
        let group = wire::DEFAULT_GROUP;
        let c = on_lo(group.into(), 1);
        let (index, bind) = (lo_index(), Ipv4Addr::UNSPECIFIED);
        let s = master(&c, Via::V4 { group, index, bind }, 0).expect("a master socket");
        assert_eq!(
            s.peer_addr().expect("connected").to_string(),
            "224.0.0.81:8848"
        );
    }

    /// The IPv4 backup joins the group by the interface's index, as
    /// `join_mcast_group` does: no address of the interface is asked for.
    #[test]
    fn the_ipv4_backup_joins_by_index() {
        let group = wire::DEFAULT_GROUP;
        let c = on_lo(group.into(), 1);
        let via = Via::V4 {
            group,
            index: lo_index(),
            bind: Ipv4Addr::UNSPECIFIED,
        };
        let s = backup(&c, via, 0).expect("a socket");
        let local = s.local_addr().expect("bound");
        assert_eq!(local.to_string(), "224.0.0.81:8848");
        // The second port's socket (`sync_ports`), as thread 1's
        // `make_receive_sock` binds `mcast_port + 1`.
        let s = backup(&c, via, 1).expect("a socket");
        let local = s.local_addr().expect("bound");
        assert_eq!(local.to_string(), "224.0.0.81:8849");
    }

    /// A port near the top wraps in 16 bits, as `get_mcast_sockaddr` adds
    /// the thread's id to `mcast_port` (`htons` of the sum).
    #[test]
    fn a_masters_last_port_wraps_as_the_kernels() {
        let group = wire::DEFAULT_GROUP;
        let c = DaemonConfig {
            port: 65535,
            ..on_lo(group.into(), 1)
        };
        let (index, bind) = (lo_index(), Ipv4Addr::UNSPECIFIED);
        let s = master(&c, Via::V4 { group, index, bind }, 2).expect("a socket");
        let peer = s.peer_addr().expect("connected");
        assert_eq!(peer.to_string(), "224.0.0.81:1");
    }

    /// The IPv6 master's options, as `make_send_sock` sets them on an IPv6
    /// socket: out of the interface by its index, the hop limit of
    /// `--mcast-ttl`, no loopback, and path-MTU discovery off for both
    /// families' settings (`set_mcast_pmtudisc`). (`lo` has no multicast
    /// route, so the socket is not connected here: the namespace test
    /// `tests/sync_netns.rs` sends over a veth.)
    #[test]
    fn the_ipv6_masters_socket_goes_out_of_the_interface_by_index() {
        let group: Ipv6Addr = "ff02::51".parse().expect("a group");
        let index = lo_index();
        let s = sender(&on_lo(group.into(), 3), Via::V6 { group, index }).expect("a socket");
        let v6 = libc::IPPROTO_IPV6;
        assert_eq!(int(&s, v6, libc::IPV6_MULTICAST_IF) as u32, index);
        assert_eq!(int(&s, v6, libc::IPV6_MULTICAST_HOPS), 3);
        assert_eq!(int(&s, v6, libc::IPV6_MULTICAST_LOOP), 0);
        assert_eq!(
            int(&s, v6, libc::IPV6_MTU_DISCOVER),
            libc::IPV6_PMTUDISC_DONT
        );
        assert_eq!(
            int(&s, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER),
            libc::IP_PMTUDISC_DONT
        );
    }

    /// The IPv6 backup binds the group's port on the interface and joins the
    /// group there.
    #[test]
    fn the_ipv6_backup_binds_the_group_on_the_interface() {
        let group: Ipv6Addr = "ff02::52".parse().expect("a group");
        let index = lo_index();
        let via = Via::V6 { group, index };
        let s = backup(&on_lo(group.into(), 1), via, 0).expect("a socket");
        let local = s.local_addr().expect("bound");
        assert_eq!(local.to_string(), format!("[ff02::52%{index}]:8848"));
        let mut buf = [0u8; 16];
        let e = s.recv(&mut buf).expect_err("nothing sent");
        assert!(matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
    }
}
