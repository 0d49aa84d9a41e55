//! Direct routing and tunnelling (`ipvsadm -g` and `-i`): the client's packets
//! go to the real server, its replies go to the client without the director.
//!
//! * **DR** (`ip_vs_dr_xmit`, `ip_vs_xmit.c`): the IP packet leaves as it came
//!   (no TTL or checksum change, a deliberate difference: IPVS decrements the
//!   TTL through `__ip_vs_get_out_rt`'s `decrement_ttl`; `docs/ipvsadm.md`,
//!   `-g`), only the Ethernet header changes: to the
//!   real server's MAC, on the NIC where the server is on-link. An IPv6
//!   packet (`ip_vs_dr_xmit_v6`) has its hop limit decremented, as
//!   `__ip_vs_get_out_rt_v6` does through `decrement_ttl` (IPv6 has no header
//!   checksum to fix); the neighbor is resolved by NDP.
//! * **TUN** (`ip_vs_tunnel_xmit`): the packet is encapsulated, IPIP, GUE or
//!   GRE (`wire::encap`), from the director's address on the egress NIC to the
//!   real server's, which may be off-link (`--gateway` on the external side,
//!   `--int-gateway` on the internal one). A packet with DF that no longer
//!   fits the egress MTU after encapsulation gets ICMP "fragmentation needed"
//!   with the MTU less the overhead, as `ip_vs_tunnel_xmit` does through
//!   `ensure_mtu_is_adequate`; one without DF goes on, the outer packet in
//!   fragments (`Core::fragment`) of at most the route's MTU (the link's, or
//!   a path MTU a router reported), as the kernel fragments what IPVS sends.
//! * **TUN of an IPv6 service** (`ip_vs_tunnel_xmit_v6`): IPv6-in-IPv6 (next
//!   header 41, RFC 2473), GUE or GRE under an outer IPv6 header from the
//!   director's IPv6 address on the egress NIC (the DIP, or the external
//!   address towards the IPv6 `--gateway`). As there, the inner hop limit is
//!   decremented and the outer one is the same, the outer traffic class is
//!   the inner one and the flow label 0. The tunnel's MTU is the egress MTU
//!   less the overhead; a packet over it gets ICMPv6 packet-too-big with that
//!   MTU (`__mtu_check_toobig_v6`), and a tunnel whose MTU falls below
//!   IPv6's minimum (1280) carries nothing, as `__ip_vs_get_out_rt_v6` refuses
//!   the route.
//! * **TUN across families** (`ip_vs_ctl.c` allows a real server of the other
//!   family for tunnels only): an IPv4 packet inside IPv6 (next header 4), an
//!   IPv6 one inside IPv4 (protocol 41), by the same path (`tunnel_to`); the
//!   connection holds a placeholder address, the real one is
//!   `Snapshot::cross` (see `nat.rs`'s `direct`). The client is told of a
//!   tunnel MTU by its own family's error.
//!
//! * **ICMP errors** about DR and TUN connections and about our own tunnel
//!   packets: `direct_icmp.rs`.
//!
//! The connection is tracked from the client's packets alone, with IPVS's
//! input-only TCP states (`set_tcp_state` with `IP_VS_CONN_F_NOOUTPUT`,
//! `ip_vs_proto_tcp.c`; see `nat::state`).
//!
//! An encapsulated frame is built in a buffer of the worker's (the frame grows,
//! so it cannot be sent from its RX buffer) and then sent like any other frame
//! (`forward`): one more copy than NAT, no allocation. A DR frame, of either
//! family, goes out from its own buffer where the rings allow (zero copy).

use super::classify::Segment;
use super::nat6::Segment6;
use super::tx::{Hop, Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::config::{Forward, TunCsum, TunKind, Tunnel};
use crate::io::TxQueue;
use crate::nat::rewrite::{End, Rewrite};
use crate::nat::{Addr, Conn, fold32};
use crate::neigh;
use crate::stats::Ctr;
use crate::wire::checksum::Delta;
use crate::wire::encap::{self, Encap, Outer, Outer6, OuterIp};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::{EthernetFrame, TcpPacket, UdpPacket, ethernet};
use std::net::{IpAddr, Ipv6Addr};

impl Core {
    /// Send a client packet to DR or TUN real server `dest` at `rip`, by its
    /// family's `forward_direct`, and count it on the server first, whatever
    /// the transmitter makes of it (see `Core::forwarded`).
    pub(super) fn direct_to<T: TxQueue>(
        &mut self,
        dest: crate::config::DestId,
        rip: std::net::IpAddr,
        fwd: Forward,
        by_family: Option<super::family::ByFamily<'_>>,
        tx: &mut TxPair<T>,
    ) {
        use super::family::ByFamily;
        match by_family {
            Some(ByFamily::V4(s)) => {
                self.out.traffic.inbound(dest, s.ip_len());
                self.forward_direct(fwd, rip, s, tx);
            }
            Some(ByFamily::V6(s)) => {
                self.out.traffic.inbound(dest, s.ip_len());
                self.forward_direct6(fwd, rip, s, tx);
            }
            None => {
                self.drop(Ctr::DropNoDest);
            }
        }
    }

    /// Where a DR real server is: the NIC it is on-link on.
    #[inline]
    pub(super) fn dr_hop(&self, rip: u32) -> Option<(Nic, u32)> {
        if self.env.int_net.contains(rip) {
            Some((Nic::Int, rip))
        } else if self.env.ext_net.contains(rip) {
            Some((Nic::Ext, rip))
        } else {
            None
        }
    }

    /// The NIC and next hop of a tunnel's outer packet to `rip`: on-link on
    /// either NIC, else through the internal then the external gateway.
    #[inline]
    pub(super) fn tunnel_hop(&self, rip: u32) -> Option<(Nic, u32)> {
        self.dr_hop(rip).or_else(|| {
            neigh::next_hop(&self.env.int_net, self.env.int_gateway, rip)
                .map(|h| (Nic::Int, h))
                .or_else(|| {
                    neigh::next_hop(&self.env.ext_net, self.env.gateway, rip).map(|h| (Nic::Ext, h))
                })
        })
    }

    /// [`Core::dr_hop`] of an IPv6 real server: on the IPv6 prefix of
    /// either NIC.
    #[inline]
    pub(super) fn dr_hop6(&self, rip: Ipv6Addr) -> Option<Nic> {
        if self.env.int_net6.is_some_and(|p| p.contains(rip)) {
            Some(Nic::Int)
        } else if self.env.ext_net6.is_some_and(|p| p.contains(rip)) {
            Some(Nic::Ext)
        } else {
            None
        }
    }

    /// [`Core::tunnel_hop`] of an IPv6 endpoint: on-link on either NIC, else
    /// through the IPv6 gateway (the IPv6 `--gateway`, external; there is no
    /// internal IPv6 gateway).
    #[inline]
    pub(super) fn tunnel_hop6(&self, rip: Ipv6Addr) -> Option<(Nic, Ipv6Addr)> {
        self.dr_hop6(rip).map(|n| (n, rip)).or_else(|| {
            let net = self.env.ext_net6?;
            neigh::next_hop6(&net, self.env.gateway6, rip).map(|h| (Nic::Ext, h))
        })
    }

    /// [`Core::reachable`] of a real server of either family.
    pub(super) fn reachable_ip(&self, fwd: Forward, rip: IpAddr) -> bool {
        match rip {
            IpAddr::V4(rip) => self.reachable(fwd, rip.to_bits()),
            IpAddr::V6(rip) => self.reachable6(fwd, rip),
        }
    }

    /// Whether a real server reached by `fwd` at `rip` can be sent to at all
    /// (checked when a connection is scheduled).
    pub(super) fn reachable(&self, fwd: Forward, rip: u32) -> bool {
        match fwd {
            // LVS-NAT needs the real servers on the DIP's segment.
            Forward::Masq => self.env.int_net.contains(rip),
            Forward::Route => self.dr_hop(rip).is_some(),
            Forward::Tunnel(_) => self.tunnel_hop(rip).is_some(),
        }
    }

    /// [`Core::reachable`] of an IPv6 real server.
    pub(super) fn reachable6(&self, fwd: Forward, rip: Ipv6Addr) -> bool {
        match fwd {
            Forward::Masq => self.env.int_net6.is_some_and(|p| p.contains(rip)),
            Forward::Route => self.dr_hop6(rip).is_some(),
            Forward::Tunnel(_) => self.tunnel_hop6(rip).is_some(),
        }
    }

    /// Where a DR or TUN connection's packets go: its real server, or for a
    /// tunnel endpoint of the other family the address `Snapshot::cross`
    /// holds (the connection holds a placeholder).
    pub(super) fn direct_rip<A: Addr>(&self, c: &Conn<A>) -> IpAddr {
        match self.snap.cfg.cross_rip(c.dest()) {
            Some(ip) => ip,
            None => c.rip.to_ip(),
        }
    }

    /// Send a client packet to its DR or TUN real server `rip` (of the other
    /// family only through a tunnel). True if it went out (or waits for ARP).
    pub(super) fn forward_direct<T: TxQueue>(
        &mut self,
        fwd: Forward,
        rip: IpAddr,
        seg: Segment<'_>,
        tx: &mut TxPair<T>,
    ) -> bool {
        // A partial checksum is completed: nothing downstream would.
        let patch = if seg.partial {
            Patch::Complete(seg.proto)
        } else {
            Patch::None
        };
        match (fwd, rip) {
            (Forward::Route, IpAddr::V4(rip)) => match self.dr_hop(rip.to_bits()) {
                Some(hop) => self.forward(hop, seg.frame, tx, Ctr::FwdIn, patch),
                None => self.drop(Ctr::DropNoDest),
            },
            (Forward::Tunnel(t), rip) => {
                let sport = gue_sport(seg.src, seg.dst, seg.sport, seg.dport);
                let inner = Inner::V4(patch, sport);
                self.tunnel_to(t, rip, (seg.frame, inner), tx, Ctr::FwdIn)
            }
            (Forward::Masq, _) => false,
            (Forward::Route, IpAddr::V6(_)) => self.drop(Ctr::DropNoDest),
        }
    }

    /// [`Core::forward_direct`] of an IPv6 client packet. True if it went
    /// out (or waits for NDP).
    pub(super) fn forward_direct6<T: TxQueue>(
        &mut self,
        fwd: Forward,
        rip: IpAddr,
        seg: Segment6<'_>,
        tx: &mut TxPair<T>,
    ) -> bool {
        // Counted in `fwd_in6` and `fwd_in` once it went (`count_done`).
        match (fwd, rip) {
            (Forward::Route, IpAddr::V6(rip)) => match self.dr_hop6(rip) {
                Some(nic) => {
                    // NAT's rewrite to where the packet already goes: the
                    // addresses and ports stay, the hop limit goes down by
                    // one, a partial checksum is completed.
                    let same = Rewrite {
                        end: End::Dst,
                        addr: seg.dst,
                        port: seg.dport,
                        addr_delta: Delta::new(),
                        l4_delta: Delta::new(),
                    };
                    // A frame's offsets fit 16 bits (frames are at most `FRAME_MAX`).
                    let at = (seg.l4_off as u16, seg.proto);
                    let patch = Patch::Nat6(same, at, seg.partial);
                    self.forward_to((nic, Hop::V6(rip)), seg.frame, tx, Ctr::FwdIn6, patch)
                }
                None => self.drop(Ctr::DropNoDest),
            },
            (Forward::Tunnel(t), rip) => {
                self.tunnel_to(t, rip, (seg.frame, Inner::of6(&seg)), tx, Ctr::FwdIn6)
            }
            (Forward::Masq, _) => false,
            (Forward::Route, IpAddr::V4(_)) => self.drop(Ctr::DropNoDest),
        }
    }

    /// A client packet of either family (in `frame`, described by `inner`)
    /// through tunnel `t` to an endpoint `rip` of either family: the outer
    /// header from our address on the egress NIC, the tunnel's MTU checked
    /// (the sender told as its family's ICMP says), then sent and counted
    /// in `done`.
    pub(super) fn tunnel_to<T: TxQueue>(
        &mut self,
        t: Tunnel,
        rip: IpAddr,
        (frame, inner): (&[u8], Inner),
        tx: &mut TxPair<T>,
        done: Ctr,
    ) -> bool {
        let (nic, hop, outer) = match rip {
            IpAddr::V4(rip) => {
                let Some((nic, hop)) = self.tunnel_hop(rip.to_bits()) else {
                    return self.drop(Ctr::DropNoDest);
                };
                let src = match nic {
                    Nic::Int => self.env.int_net.addr,
                    Nic::Ext => self.env.ext_net.addr,
                };
                let outer = Outer {
                    src,
                    dst: rip,
                    ident: self.encap_ident(frame, inner),
                    ttl: inner.outer_ttl(frame),
                };
                (nic, Hop::V4(hop), OuterIp::V4(outer))
            }
            IpAddr::V6(rip) => {
                let Some((nic, hop)) = self.tunnel_hop6(rip) else {
                    return self.drop(Ctr::DropNoDest);
                };
                let src = match nic {
                    Nic::Int => self.env.dip6(),
                    Nic::Ext => self.env.ext_addr6(),
                };
                let Some(src) = src else {
                    return self.drop(Ctr::DropNoDest);
                };
                let outer = Outer6 {
                    src,
                    dst: rip,
                    hop_limit: inner.outer_ttl(frame),
                };
                (nic, Hop::V6(hop), OuterIp::V6(outer))
            }
        };
        let e = encap_of(t, inner.sport());
        // `__ip_vs_get_out_rt(_v6)`: the tunnel's MTU is the route's less the
        // overhead, and a route whose tunnel MTU is under the outer family's
        // minimum (68, 1280) carries nothing. The route's MTU is the link's,
        // or the path MTU a router told us for this endpoint.
        let link = self.env.mtu[nic as usize];
        let route = match outer {
            OuterIp::V4(o) => self
                .shared
                .pmtu
                .get(u32::from(o.dst), self.clock.now_s)
                .map_or(link, |p| p.min(link)),
            OuterIp::V6(_) => link,
        };
        let room = route.saturating_sub(outer.overhead(e));
        let least = match outer {
            OuterIp::V4(_) => 68,
            OuterIp::V6(_) => ipv6::MIN_MTU,
        };
        if room < least {
            return self.drop(Ctr::DropTooBig);
        }
        // An IPv4 packet without DF in an IPv4 tunnel goes on: the outer
        // packet is sent in fragments of at most the route's MTU
        // (`forward_outer`), as the kernel fragments what
        // `ip_vs_tunnel_xmit` sends. So does an ICMP error passed on
        // (`icmp_error_direct`) with DF, its outer header DF too:
        // `ensure_mtu_is_adequate` skips it (`!ip_vs_iph_icmp`) and
        // `ip_vs_tunnel_xmit` sets `ignore_df`, so `ip_fragment` cuts it.
        // Told by the caller, as the kernel's `IP_VS_HDR_ICMP`: an ICMP
        // packet of a connection (none today) is checked as any other.
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let relayed = done == Ctr::IcmpErrorDirect;
        let fragments = matches!((inner, &outer), (Inner::V4(..), OuterIp::V4(_)))
            && ip.check_len().is_ok()
            && (!ip.dont_frag() || relayed);
        if frame.len() - ethernet::HEADER_LEN > room && !fragments {
            // `ensure_mtu_is_adequate`: the client learns the tunnel's MTU,
            // by its own family's error (an IPv4 packet only with DF), out of
            // the external NIC it came in by, whichever NIC the tunnel takes
            // (`frag_needed_mtu` answers out of the other NIC than the one
            // it is given).
            match inner {
                Inner::V4(..) => self.frag_needed_mtu(Nic::Int, frame, room as u32, tx),
                Inner::V6 { .. } => self.too_big6_mtu(Nic::Ext, room as u32, frame, tx),
            }
            return self.drop(Ctr::DropTooBig);
        }
        let fix = |ip: &mut [u8]| inner.fix(ip);
        let cut = (route, fragments && relayed);
        self.send_encapsulated((nic, hop, cut), frame, (e, &outer), fix, tx, done)
    }

    /// The IP id of an outer IPv4 header around `frame`. An outer header
    /// with DF (the client's IPv4 packet had it) is never fragmented: id 0,
    /// as the kernel's `ip_select_ident_segs` gives a DF packet of no
    /// connected socket. But an ICMP error passed on may be cut whatever
    /// its DF (`tunnel_to`): it takes an id as one without DF does, a
    /// deliberate difference (`ip_vs_tunnel_xmit` calls `ip_select_ident`
    /// before it sets `ignore_df`, so the kernel's fragments of such a
    /// packet all carry id 0, which the server's reassembly can mix up).
    /// Any other takes the worker's next id, the ids of
    /// `workers` workers interleaved (worker `id` takes `id + k × workers`),
    /// so that fragments of two workers' packets to one real server never
    /// share an id until 65536 / `workers` packets later.
    fn encap_ident(&mut self, frame: &[u8], inner: Inner) -> u16 {
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let df = matches!(inner, Inner::V4(..))
            && ip.dont_frag()
            && ip.protocol() != crate::wire::ipv4::protocol::ICMP;
        if df {
            return 0;
        }
        // Worker ids and counts as 16-bit steps (a director has far fewer
        // than 65536 workers).
        self.encap_ident = self.encap_ident.wrapping_add(self.workers as u16);
        self.encap_ident.wrapping_add(self.id as u16)
    }

    /// Encapsulate the IP packet of `frame` as `e` under `outer` in the
    /// worker's buffer (`fix` applied to the inner copy first) and send it
    /// to `hop` out of `nic`, counted in `done`: in fragments of at most
    /// `cut.0` bytes (the route's MTU) if it is larger and may be cut (DF
    /// clear, or `cut.1`: an ICMP error passed on, DF or not).
    fn send_encapsulated<T: TxQueue>(
        &mut self,
        (nic, hop, cut): (Nic, Hop, (usize, bool)),
        frame: &[u8],
        (e, outer): (Encap, &OuterIp),
        fix: impl FnOnce(&mut [u8]),
        tx: &mut TxPair<T>,
        done: Ctr,
    ) -> bool {
        let mut buf = std::mem::take(&mut self.encap_buf);
        let h = ethernet::HEADER_LEN;
        let inner = &frame[h..];
        let sent = match buf
            .get_mut(h..)
            .and_then(|b| encap::encapsulate_ip(b, inner, e, outer, fix))
        {
            Some(n) => {
                buf[..h].copy_from_slice(&frame[..h]);
                EthernetFrame::new_unchecked(&mut buf[..h]).set_ethertype(match outer {
                    OuterIp::V4(_) => ethernet::ethertype::IPV4,
                    OuterIp::V6(_) => ethernet::ethertype::IPV6,
                });
                // `forward` must not take this for the RX frame (zero copy).
                let zc = self.zc.out.take();
                let queued = self.ctr.get(Ctr::NeighQueued);
                let ok = self.forward_outer((nic, hop), &buf[..h + n], tx, done, cut);
                self.zc.out = zc;
                if ok {
                    self.count_encap(nic, hop, self.ctr.get(Ctr::NeighQueued) != queued);
                }
                ok
            }
            None => self.drop(Ctr::DropTooBig),
        };
        self.encap_buf = buf;
        sent
    }
}

impl Core {
    /// Count a tunnel's outer packet to `hop` on `nic` that went or was
    /// parked in `tunnel_encap`: now if it went, else when its packet is
    /// counted (`fwd_in`, `icmp_error_direct`), as it goes
    /// (`PendingHop::also`), so that one given up is counted in neither.
    /// The packet parked last for the hop (whole, or the fragment that
    /// counts it) is this one. `parked`: the send parked it (what it did to
    /// `neigh_queued`), so no second look at the neighbor snapshot.
    fn count_encap(&mut self, nic: Nic, hop: Hop, parked: bool) {
        if !parked {
            return self.ctr.inc(Ctr::TunnelEncap);
        }
        let hop_queue = self
            .pending
            .0
            .iter_mut()
            .find(|p| p.n > 0 && p.nic == nic && p.ip == hop);
        if let Some(p) = hop_queue {
            let newest = p.at(p.n - 1);
            p.also[newest] = Some(Ctr::TunnelEncap);
        }
    }
}

/// What a tunnel does to the client's packet it carries, by family.
#[derive(Clone, Copy)]
pub(super) enum Inner {
    /// An IPv4 packet: left as it is (TTL included, as ringvs's IPv4 DR and
    /// TUN always did), `Patch::Complete` if its checksum is partial; GUE
    /// from the port given. The outer TTL is the inner one less one, as
    /// IPVS's (`decrement_ttl`, then `ip_vs_prepare_tunneled_skb` copies the
    /// inner TTL out).
    V4(Patch, u16),
    /// An IPv6 packet: its hop limit (already one less) written back, its
    /// partial TCP/UDP checksum (`proto` at `l4` in the packet) completed;
    /// the outer hop limit is the same (`ip_vs_tunnel_xmit_v6`).
    V6 {
        hop_limit: u8,
        l4: usize,
        proto: u8,
        partial: bool,
        sport: u16,
    },
}

impl Inner {
    /// The IPv6 segment's (`classify` let no packet with a hop limit under
    /// 2 through).
    fn of6(seg: &Segment6<'_>) -> Inner {
        Inner::V6 {
            hop_limit: seg.frame[ethernet::HEADER_LEN + 7].saturating_sub(1),
            l4: seg.l4_off - ethernet::HEADER_LEN,
            proto: seg.proto,
            partial: seg.partial,
            sport: gue_sport(fold32(seg.src), fold32(seg.dst), seg.sport, seg.dport),
        }
    }

    /// The outer header's TTL (hop limit) for the inner packet of `frame`
    /// (Ethernet first): the inner one less one, at least 1.
    fn outer_ttl(self, frame: &[u8]) -> u8 {
        match self {
            Inner::V4(..) => frame
                .get(ethernet::HEADER_LEN + 8)
                .map_or(1, |ttl| ttl.saturating_sub(1).max(1)),
            Inner::V6 { hop_limit, .. } => hop_limit,
        }
    }

    fn sport(self) -> u16 {
        match self {
            Inner::V4(_, sport) | Inner::V6 { sport, .. } => sport,
        }
    }

    /// Applied to the inner packet's copy before the outer checksums.
    fn fix(self, ip: &mut [u8]) {
        match self {
            Inner::V4(Patch::Complete(proto), _) => {
                crate::nat::rewrite::fill_l4_checksum_ip(ip, proto);
            }
            Inner::V4(..) => {}
            Inner::V6 {
                hop_limit,
                l4,
                proto,
                partial,
                ..
            } => {
                Ipv6Packet::new_unchecked(&mut *ip).set_hop_limit(hop_limit);
                if partial {
                    fill_l4_checksum6(ip, l4, proto);
                }
            }
        }
    }
}

/// The encapsulation of tunnel `t`, GUE from `sport`.
#[inline]
fn encap_of(t: Tunnel, sport: u16) -> Encap {
    match t.kind {
        TunKind::Ipip => Encap::Ipip,
        TunKind::Gue => Encap::Gue {
            sport,
            port: t.port,
            // `--tun-remcsum` too: IPVS fills GUE's UDP checksum for either
            // (`ip_vs_tunnel_xmit`: `check`).
            csum: t.csum != TunCsum::NoCsum,
        },
        TunKind::Gre => Encap::Gre {
            csum: t.csum == TunCsum::Csum,
        },
    }
}

/// Complete the partial TCP/UDP (`proto`) checksum, or SCTP CRC32c, of an IPv6 packet whose
/// upper-layer header starts at `l4` (checked complete by `classify`).
pub(super) fn fill_l4_checksum6(ip: &mut [u8], l4: usize, proto: u8) {
    let p = Ipv6Packet::new_unchecked(&*ip);
    let (src, dst) = (p.src(), p.dst());
    let Some(seg) = ip.get_mut(l4..) else { return };
    if proto == crate::wire::ipv4::protocol::TCP {
        TcpPacket::new_unchecked(seg).fill_checksum_v6(src, dst);
    } else if proto == crate::wire::ipv4::protocol::SCTP {
        crate::wire::SctpPacket::new_unchecked(seg).fill_checksum();
    } else {
        UdpPacket::new_unchecked(seg).fill_checksum_v6(src, dst);
    }
}

/// GUE's UDP source port: a hash of the inner flow (IPv6 addresses folded)
/// spread over the kernel's default `ip_local_port_range` (32768–60999,
/// `inet_init_net`), as IPVS's `ipvs_gue_encap` takes it from
/// `udp_flow_src_port(net, skb, 0, 0, false)`: no range given, so the local
/// port range, the hash scaled into it by a multiply and a shift (which never
/// reaches the top port, so 32768–60998), so that ECMP and RSS on the way
/// spread flows. ringvs has no such sysctl: the default always.
#[inline]
pub(super) fn gue_sport(src: u32, dst: u32, sport: u16, dport: u16) -> u16 {
    let x = src ^ dst.rotate_left(16) ^ (u32::from(sport) << 16 | u32::from(dport));
    let h = u64::from(x.wrapping_mul(0x9e37_79b1));
    let (min, max) = GUE_SPORTS;
    // < max - min: the sum fits 16 bits.
    min + ((h * u64::from(max - min)) >> 32) as u16
}

/// The kernel's default `ip_local_port_range`, which `udp_flow_src_port`
/// spreads GUE's source ports over.
const GUE_SPORTS: (u16, u16) = (32768, 60999);
