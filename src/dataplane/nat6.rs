//! The IPv6 L4 NAT path: IPVS's NAT mode for `AF_INET6` (`ip_vs_core.c`:
//! `ip_vs_in_hook` / `ip_vs_out_hook` with `af == AF_INET6`, `ip_vs_xmit.c`:
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
//! DR and TUN real servers of IPv6 services take `direct.rs`'s IPv6 path
//! (NDP-resolved DR, IPv6-in-IPv6, GUE and GRE over IPv6), and IPv6
//! connections are synced as IPv4 ones (`sync.rs`).

use super::family::{Family, Quote, Seg, Split, Svc, family_state};
use super::shared::{Env, Shared};
use super::tx::{Hop, Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::config::Forward;
use crate::io::TxQueue;
use crate::nat::ops::OpsReply;
use crate::nat::persist::Templates;
use crate::nat::rewrite::Rewrite;
use crate::nat::{Conn, ConnTable, Dir, Snapshot};
use crate::neigh;
use crate::stats::Ctr;
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv6::{self, Ipv6Packet, next_header};
use crate::wire::{UdpPacket, ethernet};
use std::net::Ipv6Addr;

/// An IPv6 TCP segment or UDP datagram that passed every check of
/// `Core::ipv6` (`classify.rs`): header and extension headers walked,
/// lengths consistent, checksum good (or partial), hop limit above 1. The
/// connection path's segment ([`Seg`]) of IPv6: its `frame` spans Ethernet +
/// the 40-byte IPv6 header + its payload length (no padding), `l4_off` is
/// where the TCP/UDP header starts (after any extension headers).
pub(super) type Segment6<'a> = Seg<'a, Ipv6Addr>;

impl Family for Ipv6Addr {
    const V4: bool = false;
    family_state!(table6, templates6, expects6);
    #[inline]
    fn service(snap: &Snapshot, proto: u8, vip: Self, port: u16) -> Option<Svc<'_, Self>> {
        snap.service_for6(proto, vip, port).map(|(id, s)| Svc {
            id,
            entry: &s.entry,
            addrs6: &s.addrs6,
        })
    }
    fn mark_of(id: (u8, Self, u16)) -> u32 {
        crate::nat::mark::mark_of6(id)
    }
    #[inline]
    fn service_of_dest(snap: &Snapshot, id: crate::config::DestId) -> Option<Svc<'_, Self>> {
        snap.service_of_dest6(id).map(|(id, s)| Svc {
            id,
            entry: &s.entry,
            addrs6: &s.addrs6,
        })
    }
    #[inline]
    fn dest_addr(svc: &Svc<'_, Self>, i: usize) -> Option<Self> {
        svc.addrs6.get(i).copied()
    }
    fn ops_reply(snap: &Snapshot, rip: Self, rport: u16) -> Option<OpsReply<Self>> {
        snap.ops_replies6.find(rip, rport)
    }

    /// Not one of ours (the external address, a VIP, the DIP), not of the
    /// internal prefix, not unspecified, loopback, multicast, link-local or
    /// IPv4-mapped, and reachable (on-link or through the IPv6 gateway).
    fn plausible_client(core: &Core, src: Self) -> bool {
        let env = &core.env;
        let odd =
            Core::martian6(src) || src.is_unicast_link_local() || src.to_ipv4_mapped().is_some();
        let ours = env.ext_addr6() == Some(src)
            || env.dip6() == Some(src)
            || core.snap.cfg.vips6.contains(&src);
        let internal = env.int_net6.is_some_and(|p| p.contains(src));
        let reachable = env
            .ext_net6
            .is_some_and(|net| neigh::next_hop6(&net, env.gateway6, src).is_some());
        !(odd || ours || internal) && reachable
    }

    /// NAT real servers on the IPv6 DIP's prefix, DR ones on an IPv6 prefix
    /// of ours, TUN ones on-link or through `--gateway6` (`direct.rs`).
    fn reachable(core: &Core, fwd: Forward, rip: Self) -> bool {
        core.reachable6(fwd, rip)
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

    #[inline]
    fn patch_ip(rw: Rewrite<Self>) -> Patch {
        Patch::NatIp6(rw)
    }

    #[inline]
    fn owner(env: &Env, client: (Self, u16), workers: usize) -> usize {
        env.owner6(client, workers)
    }
}

/// The quoted packet of an ICMPv6 error (its data): an IPv6 header, any
/// extension headers (walked as a received packet's are; a first fragment's
/// too, as `ip_vs_in_icmp_v6` walks the quote with `ipv6_find_hdr`, a later
/// one has no ports and is not translated), and at least the 4 first bytes
/// of TCP, UDP or SCTP, the ports, as `ip_vs_in_icmp_v6` reads them.
/// Returns its tuple and where its L4 header starts in `data`.
fn quoted6(data: &[u8]) -> Option<(Quote<Ipv6Addr>, usize)> {
    if data.len() < ipv6::HEADER_LEN {
        return None;
    }
    let ip = Ipv6Packet::new_unchecked(data);
    if ip.version() != 6 {
        return None;
    }
    let up = match ipv6::walk(ip.next_header(), data, ipv6::HEADER_LEN) {
        Ok(up) => up,
        Err(ipv6::ExtError::Fragment) => {
            ipv6::walk_fragment(ip.next_header(), data, ipv6::HEADER_LEN)
                .ok()?
                .1?
        }
        Err(_) => return None,
    };
    let l4 = data.get(up.offset..up.offset + 4)?;
    // The ports are the first 4 bytes of TCP and UDP alike.
    let ports = UdpPacket::new_unchecked(l4);
    let q = Quote {
        proto: up.protocol,
        src: ip.src(),
        dst: ip.dst(),
        sport: ports.src_port(),
        dport: ports.dst_port(),
    };
    Some((q, up.offset))
}

/// Whether an ICMPv6 message of type `ty` (its data `data`) to the IPv6 DIP
/// `dip6` answers a health check (`divert.rs`): an echo reply, or a
/// destination unreachable about a `UDP_CHECK` datagram from `dip6`.
pub(super) fn is_check_answer6(ty: u8, data: &[u8], dip6: Ipv6Addr) -> bool {
    match ty {
        icmpv6::msg::ECHO_REPLY => true,
        icmpv6::msg::DEST_UNREACHABLE => quoted6(data)
            .is_some_and(|(q, _)| q.src == dip6 && super::divert::is_check_error(q.proto, q.sport)),
        _ => false,
    }
}

impl Core {
    /// An IPv6 TCP/UDP packet from a client (external NIC).
    pub(super) fn nat_in6<T: TxQueue>(&mut self, seg: Segment6<'_>, tx: &mut TxPair<T>) {
        self.nat_in_of(seg, tx);
    }

    /// An IPv6 TCP/UDP packet from a real server (internal NIC).
    pub(super) fn nat_out6<T: TxQueue>(&mut self, seg: Segment6<'_>, tx: &mut TxPair<T>) {
        // Replies to the IPv6 DIP's health checks (`health`).
        if super::divert::is_check_reply6(seg.proto, seg.dst, seg.dport, self.env.dip6()) {
            self.shared
                .health
                .divert(&seg.frame[crate::wire::ethernet::HEADER_LEN..]);
            return;
        }
        self.nat_out_of(seg, tx);
    }

    /// An ICMPv6 error (destination unreachable, packet too big, time
    /// exceeded, parameter problem, or any other type below 128) received
    /// on `nic`, its checksum verified:
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
        let Some((q, l4_off)) = quoted6(icmp.data()) else {
            return self.ctr.inc(Ctr::DropIcmp);
        };
        if !matches!(
            q.proto,
            next_header::TCP | next_header::UDP | next_header::SCTP
        ) {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        }
        // `classify` checked the outer fixed header.
        let outer = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let (dst, hop_limit) = (outer.dst(), outer.hop_limit());
        // Offsets within a frame (at most `FRAME_MAX`) fit 16 bits.
        let inner_l4 = (icmp_off + icmpv6::HEADER_LEN + l4_off) as u16;
        let at = (icmp_off as u16, inner_l4, q.proto);
        let patch = |rw| Patch::Icmp6Error(rw, at);
        self.icmp_error_of((nic, frame), (dst, hop_limit), &q, handed, tx, patch);
    }
}
