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
        !(self.martian(src) || src >> 28 == 0xf || self.env.int_net.contains(src))
            && neigh::next_hop(&self.env.ext_net, self.env.gateway, src).is_some()
    }

    /// Whether the kernel would drop a packet from `src` as a martian before
    /// any protocol saw it (`ip_route_input_slow` in `net/ipv4/route.c`):
    /// "this network" (0/8), loopback, multicast or the limited broadcast
    /// address, or (`__fib_validate_source` in `net/ipv4/fib_frontend.c`)
    /// one of our own addresses or a prefix's broadcast address. Echo
    /// requests from these go unanswered (`drop_bad_source`).
    pub(super) fn martian(&self, src: u32) -> bool {
        let ip = Ipv4Addr::from(src);
        ip.octets()[0] == 0
            || ip.is_loopback()
            || ip.is_multicast()
            || ip.is_broadcast()
            || self.env.ext_net.is_broadcast(src)
            || self.env.int_net.is_broadcast(src)
            || self.is_ours(Nic::Ext, src)
            || self.is_ours(Nic::Int, src)
    }

    /// [`martian`](Self::martian) for IPv6, as `ip6_rcv_core`
    /// (`net/ipv6/ip6_input.c`) drops before routing: a multicast or
    /// loopback source, and the unspecified one, which no reply can go to
    /// (IPv6 has no source check against our own addresses). Not an
    /// IPv4-mapped one: the kernel stopped dropping those there in 5.12
    /// (dcc32f4f183a, "ipv6: weaken the v4mapped source check"), so it
    /// answers a ping from one. `Family::plausible_client` still refuses
    /// one a connection (and a time exceeded), a deliberate hardening: IPVS
    /// schedules it at LOCAL_IN, before the host's TCP would refuse it
    /// (`tcp_v6_conn_request`).
    pub(super) fn martian6(src: Ipv6Addr) -> bool {
        src.is_unspecified() || src.is_multicast() || src.is_loopback()
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
