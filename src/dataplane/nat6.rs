//! The IPv6 L4 NAT path: IPVS's NAT mode for `AF_INET6` (`ip_vs_core.c`:
//! `ip_vs_in` / `ip_vs_out` with `af == AF_INET6`, `ip_vs_xmit.c`:
//! `ip_vs_nat_xmit_v6`), and the translation of ICMPv6 errors about its
//! connections (`ip_vs_in_icmp_v6`, `ip_vs_out_icmp_v6`).
//!
//! The connection logic is `nat.rs`'s, generic over the address family: this
//! file gives IPv6's [`Family`] (its own table `Core::table6`, templates
//! `Shared::templates6`, services `Snapshot::services6`, next hops by
//! `neigh::next_hop6`, the rewrite `Patch::Nat6`). So an IPv6 connection is
//! checked (`check_in`), scheduled, tracked and expired exactly as an IPv4
//! one, by the same code.
//!
//! Not yet for IPv6 (issue 15), each a counted drop:
//! * DR and TUN real servers of IPv6 services: refused when a connection is
//!   scheduled (`drop_no_dest`), as a NAT-only data path must;
//! * health checks are IPv4 only, so nothing is diverted: a TCP reply to the
//!   IPv6 DIP finds no connection (`drop_no_conn`);
//! * connection sync carries IPv4 connections only.

use super::nat::{Family, Seg, Split, Svc};
use super::shared::{Env, Shared};
use super::tx::{Hop, Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::config::Forward;
use crate::io::TxQueue;
use crate::nat::persist::Templates;
use crate::nat::rewrite::Rewrite;
use crate::nat::{Conn, ConnTable, Dir, FlowKey, Snapshot};
use crate::neigh;
use crate::stats::Ctr;
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv6::{self, Ipv6Packet, next_header};
use crate::wire::{UdpPacket, ethernet};
use std::net::Ipv6Addr;

/// An IPv6 TCP segment or UDP datagram that passed every check of
/// `Core::ipv6` (`classify.rs`): header and extension headers walked,
/// lengths consistent, checksum good (or partial), hop limit above 1.
#[derive(Clone, Copy)]
pub(super) struct Segment6<'a> {
    /// Ethernet + the 40-byte IPv6 header + its payload length (no padding).
    pub frame: &'a [u8],
    /// Where the TCP/UDP header starts in `frame` (after any extension
    /// headers).
    pub l4_off: usize,
    pub proto: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub sport: u16,
    pub dport: u16,
    /// TCP flags (0 for UDP).
    pub flags: u8,
    /// The L4 checksum is partial (see `RxMeta::csum_partial`).
    pub partial: bool,
}

impl<'a> From<Segment6<'a>> for Seg<'a, Ipv6Addr> {
    #[inline]
    fn from(s: Segment6<'a>) -> Self {
        Seg {
            frame: s.frame,
            l4_off: s.l4_off,
            proto: s.proto,
            src: s.src,
            dst: s.dst,
            sport: s.sport,
            dport: s.dport,
            flags: s.flags,
            partial: s.partial,
        }
    }
}

impl Family for Ipv6Addr {
    const V4: bool = false;
    #[inline]
    fn table(core: &Core) -> &ConnTable<Self> {
        &core.table6
    }
    #[inline]
    fn table_mut(core: &mut Core) -> &mut ConnTable<Self> {
        &mut core.table6
    }
    #[inline]
    fn split(core: &mut Core) -> Split<'_, Self> {
        Split {
            table: &mut core.table6,
            snap: &core.snap.cfg,
            out: &core.out,
            shared: &core.shared,
        }
    }
    #[inline]
    fn templates(shared: &Shared) -> &Templates<Self> {
        &shared.templates6
    }
    #[inline]
    fn service(snap: &Snapshot, proto: u8, vip: Self, port: u16) -> Option<Svc<'_, Self>> {
        snap.service_for6(proto, vip, port).map(|(id, s)| Svc {
            id,
            entry: &s.entry,
            addrs6: &s.addrs6,
        })
    }
    #[inline]
    fn dest_addr(svc: &Svc<'_, Self>, i: usize) -> Option<Self> {
        svc.addrs6.get(i).copied()
    }

    /// Not one of ours (the external address, a VIP, the DIP), not of the
    /// internal prefix, not unspecified, loopback, multicast, link-local or
    /// IPv4-mapped, and reachable (on-link or through the IPv6 gateway).
    fn plausible_client(core: &Core, src: Self) -> bool {
        let env = &core.env;
        let odd = src.is_unspecified()
            || src.is_loopback()
            || src.is_multicast()
            || src.is_unicast_link_local()
            || src.to_ipv4_mapped().is_some();
        let ours = env.ext_addr6() == Some(src)
            || env.dip6() == Some(src)
            || core.snap.cfg.vips6.contains(&src);
        let internal = env.int_net6.is_some_and(|p| p.contains(src));
        let reachable = env
            .ext_net6
            .is_some_and(|net| neigh::next_hop6(&net, env.gateway6, src).is_some());
        !(odd || ours || internal) && reachable
    }

    /// NAT real servers on the IPv6 DIP's prefix. DR and TUN real servers of
    /// IPv6 services are not supported yet: never reachable, so a connection
    /// to one is refused when scheduled (`drop_no_dest`).
    fn reachable(core: &Core, fwd: Forward, rip: Self) -> bool {
        fwd == Forward::Masq && core.env.int_net6.is_some_and(|p| p.contains(rip))
    }

    #[inline]
    fn hop(env: &Env, dir: Dir, c: &Conn<Self>) -> Option<Hop> {
        match dir {
            Dir::Input => neigh::next_hop6(&env.int_net6?, None, c.rip),
            Dir::Output => neigh::next_hop6(&env.ext_net6?, env.gateway6, c.client),
        }
        .map(Hop::V6)
    }

    #[inline]
    fn patch(rw: Rewrite<Self>, seg: &Seg<'_, Self>) -> Patch {
        // A frame's offsets fit 16 bits (frames are at most `FRAME_MAX`).
        Patch::Nat6(rw, (seg.l4_off as u16, seg.proto), seg.partial)
    }
}

/// The connection an ICMPv6 error quotes: its TCP/UDP tuple and where the
/// quoted L4 header starts, from the start of the quoted IPv6 header.
struct Quoted6 {
    proto: u8,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    l4_off: usize,
}

impl Quoted6 {
    /// The quoted packet of an error (its data): an IPv6 header, any extension
    /// headers (walked as a received packet's are: a fragment is not
    /// translated), and at least the 8 first bytes of TCP or UDP.
    fn parse(data: &[u8]) -> Option<Quoted6> {
        if data.len() < ipv6::HEADER_LEN {
            return None;
        }
        let ip = Ipv6Packet::new_unchecked(data);
        if ip.version() != 6 {
            return None;
        }
        let up = ipv6::walk(ip.next_header(), data, ipv6::HEADER_LEN).ok()?;
        let l4 = data.get(up.offset..up.offset + 8)?;
        // The ports are the first 4 bytes of TCP and UDP alike.
        let ports = UdpPacket::new_unchecked(l4);
        Some(Quoted6 {
            proto: up.protocol,
            src: ip.src(),
            dst: ip.dst(),
            sport: ports.src_port(),
            dport: ports.dst_port(),
            l4_off: up.offset,
        })
    }
}

impl Core {
    /// An IPv6 TCP/UDP packet from a client (external NIC).
    pub(super) fn nat_in6<T: TxQueue>(&mut self, seg: Segment6<'_>, tx: &mut TxPair<T>) {
        self.nat_in_of(Seg::from(seg), tx);
    }

    /// An IPv6 TCP/UDP packet from a real server (internal NIC).
    pub(super) fn nat_out6<T: TxQueue>(&mut self, seg: Segment6<'_>, tx: &mut TxPair<T>) {
        self.nat_out_of(Seg::from(seg), tx);
    }

    /// An ICMPv6 error (destination unreachable, packet too big, time
    /// exceeded, parameter problem) received on `nic`, its checksum verified:
    /// translated for the connection it quotes. `frame` spans Ethernet + IPv6
    /// header + payload length; the ICMPv6 header starts at `icmp_off`.
    ///
    /// As `ip_vs_out_icmp_v6` (from the real servers' side) and
    /// `ip_vs_in_icmp_v6` (from the clients' side) do in `ip_vs_core.c`: the
    /// quoted packet names the connection (reversed, since it is a packet
    /// we sent); the error goes to the connection's other end with the outer
    /// address, the quoted address and port and the checksums translated.
    /// It belongs to the worker owning the connection's client, to which it
    /// is handed if another received it. Like IPv4's, it must travel where the
    /// connection goes (to the client from inside, to the VIP from outside).
    pub(super) fn icmp6_error<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        icmp_off: usize,
        handed: bool,
        tx: &mut TxPair<T>,
    ) {
        let Some(icmp) = frame
            .get(icmp_off..)
            .and_then(|b| Icmpv6Packet::new_checked(b).ok())
        else {
            return self.ctr.inc(Ctr::DropIcmp);
        };
        let Some(q) = Quoted6::parse(icmp.data()) else {
            return self.ctr.inc(Ctr::DropIcmp);
        };
        if q.proto != next_header::TCP && q.proto != next_header::UDP {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        }
        let (key, client) = match nic {
            // We sent [VIP]:vport → [CIP]:cport; the input key reverses it.
            Nic::Ext => (
                FlowKey::new(0, q.proto, q.dst, q.dport, q.src, q.sport),
                (q.dst, q.dport),
            ),
            // We sent [CIP]:cport → [RIP]:rport; the output key reverses it.
            Nic::Int => (
                FlowKey::new(1, q.proto, q.dst, q.dport, q.src, q.sport),
                (q.src, q.sport),
            ),
        };
        let owner = self.env.owner6(client, self.workers);
        if owner != self.id && !handed {
            return self.hand_off(owner, nic, frame, false);
        }
        let Some(idx) = self.table6.lookup(&key) else {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        };
        // `classify` checked the outer fixed header.
        let outer = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        if outer.hop_limit() <= 1 {
            return self.ctr.inc(Ctr::DropTtl);
        }
        let (dst, c) = (outer.dst(), self.table6.get(idx));
        let (bound, dir) = match nic {
            Nic::Ext => (dst == c.vip, Dir::Input),
            Nic::Int => (dst == c.client, Dir::Output),
        };
        if !bound {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        }
        let Some(hop) = Ipv6Addr::hop(&self.env, dir, c) else {
            return self.ctr.inc(Ctr::DropNoService);
        };
        let (rw, dest) = (c.rewrite(dir), c.dest());
        let bytes = (frame.len() - ethernet::HEADER_LEN) as u64;
        let inner_l4 = icmp_off + icmpv6::HEADER_LEN + q.l4_off;
        // Offsets within a frame (at most `FRAME_MAX`) fit 16 bits.
        let patch = Patch::Icmp6Error(rw, (icmp_off as u16, inner_l4 as u16, q.proto));
        // Counted with the connection's traffic, as IPVS does (`ip_vs_in_icmp_v6`
        // / `ip_vs_out_icmp_v6` call `ip_vs_in_stats` / `ip_vs_out_stats`).
        if self.forward_to((nic.other(), hop), frame, tx, Ctr::IcmpErrorNat, patch) {
            match dir {
                Dir::Input => self.out.traffic.inbound(dest, bytes),
                Dir::Output => self.out.traffic.outbound(dest, bytes),
            }
        }
    }
}
