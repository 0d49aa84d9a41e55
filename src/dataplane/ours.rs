//! Which addresses are the director's (VIPs, its external address, the
//! DIP) and which may open a connection from the external side: the
//! workers' address predicates, for classify, ARP, NDP and fragments.

use super::worker::Core;
use crate::Nic;
use crate::neigh;
use std::net::{Ipv4Addr, Ipv6Addr};

impl Core {
    /// Whether `src` may open a connection from the external side: not one of our
    /// own or the internal segment's addresses, not loopback, "this network",
    /// multicast, limited broadcast or the external prefix's broadcast address
    /// (a broadcast route: Linux's `__fib_validate_source` refuses it), and
    /// reachable (on-link or via the gateway).
    pub(super) fn plausible_client(&self, src: u32) -> bool {
        let ip = Ipv4Addr::from(src);
        !(ip.octets()[0] == 0
            || ip.is_loopback()
            || ip.is_multicast()
            || ip.octets()[0] >= 240
            || self.env.ext_net.is_broadcast(src)
            || self.env.int_net.contains(src)
            || self.is_ours(Nic::Ext, src))
            && neigh::next_hop(&self.env.ext_net, self.env.gateway, src).is_some()
    }

    /// Whether `ip` is one of the director's IPv6 addresses on `nic` (a VIP or
    /// the external address; the DIP).
    pub(super) fn is_ours6(&self, nic: Nic, ip: Ipv6Addr) -> bool {
        match nic {
            Nic::Ext => self.env.ext_addr6() == Some(ip) || self.snap.cfg.vips6.contains(&ip),
            Nic::Int => self.env.dip6() == Some(ip),
        }
    }

    /// Whether `ip` is one of the director's addresses on `nic` (a VIP or the
    /// external address; the DIP).
    pub(super) fn is_ours(&self, nic: Nic, ip: u32) -> bool {
        match nic {
            Nic::Ext => ip == self.env.ext_addr() || self.snap.cfg.vips.contains(&ip),
            Nic::Int => ip == self.env.dip(),
        }
    }
}
