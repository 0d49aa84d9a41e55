//! The sync daemons' kernel UDP sockets on the sync interface, for an IPv4 or
//! an IPv6 group (`--mcast-group`), set up as IPVS's `make_send_sock` and
//! `make_receive_sock` set up theirs (`ip_vs_sync.c`), in the family of the
//! group (`mcast_af`). The messages are the same over either family.

use super::daemon::DaemonConfig;
use crate::io::sockopt;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::time::Duration;

/// How the sockets reach the group on the sync interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// An IPv4 group, through the interface's IPv4 address (the master binds
    /// it, as `bind_mcastif_addr`; the backup joins on it).
    V4 { group: Ipv4Addr, addr: Ipv4Addr },
    /// An IPv6 group, through the interface's index (`IPV6_MULTICAST_IF`,
    /// `IPV6_JOIN_GROUP`); the kernel picks the source address, as for
    /// IPVS's IPv6 master, which binds none.
    V6 { group: Ipv6Addr, index: u32 },
}

/// The master's socket, connected to the group and port: bound to the sync
/// interface, sending out of it with the TTL (hop limit) and without
/// loopback of its own messages, and with path-MTU discovery off
/// (`IP_PMTUDISC_DONT`, as `make_send_sock` sets it: a message longer than a
/// smaller MTU on the way is fragmented rather than dropped).
pub fn master(c: &DaemonConfig, via: Via) -> io::Result<UdpSocket> {
    let s = sender(c, via)?;
    match via {
        Via::V4 { group, addr } => {
            s.bind(&SocketAddrV4::new(addr, 0).into())?;
            s.connect(&SocketAddrV4::new(group, c.port).into())?;
        }
        // A link-local group names its interface (the scope id).
        Via::V6 { group, index } => {
            s.connect(&SocketAddrV6::new(group, c.port, 0, index).into())?
        }
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
        Via::V4 { addr, .. } => {
            s.set_multicast_if_v4(&addr)?;
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
/// the group there (as IPVS's `make_receive_sock` binds the group address),
/// its `recv` returning after `wait` at the latest.
pub fn backup(c: &DaemonConfig, via: Via, wait: Duration) -> io::Result<UdpSocket> {
    let s = Socket::new(domain(via), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(c.ifname.as_bytes()))?;
    match via {
        Via::V4 { group, addr } => {
            s.bind(&SocketAddrV4::new(group, c.port).into())?;
            s.join_multicast_v4(&group, &addr)?;
        }
        Via::V6 { group, index } => {
            s.bind(&SocketAddrV6::new(group, c.port, 0, index).into())?;
            s.join_multicast_v6(&group, index)?;
        }
    }
    s.set_read_timeout(Some(wait))?;
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
        let addr = Ipv4Addr::LOCALHOST;
        let s = master(&c, Via::V4 { group, addr }).expect("a master socket on lo");
        let pmtudisc = int(&s, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER);
        assert_eq!(pmtudisc, libc::IP_PMTUDISC_DONT);
        assert_eq!(
            s.peer_addr().expect("connected").to_string(),
            "224.0.0.81:8848"
        );
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
        let s = backup(&on_lo(group.into(), 1), via, Duration::from_millis(5)).expect("a socket");
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
