//! The address families of the connection path: what the IPv4 path
//! (`nat.rs`, `icmp.rs`) and the IPv6 one (`nat6.rs`) share by being written
//! once, generic over [`Family`] (`u32` for IPv4, as the fast path carries
//! IPv4 addresses; `Ipv6Addr`, implemented in `nat6.rs`).
//!
//! A family names its connection table and templates in the worker, its
//! services in the snapshot, its next hops and its rewrites. The constant
//! [`Family::V4`] gates the IPv6 counters (`fwd_in6`, `conn_new6`, ...), so
//! the generic code compiles, for IPv4, to what the IPv4 path was. DR/TUN
//! (`direct.rs`) serve both families, and connection sync is written once for both
//! (`sync.rs`, through the supertrait [`SyncFamily`]: each family's sync
//! channels in the worker).

use super::classify::Segment;
use super::shared::{Env, Published, Shared};
use super::sync::{Resolved, SyncFamily};
use super::tx::{Hop, Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::config::{DestId, Forward};
use crate::io::TxQueue;
use crate::nat::ops::OpsReply;
use crate::nat::persist::Templates;
use crate::nat::rewrite::Rewrite;
use crate::nat::{Addr, Conn, ConnTable, Dir, FlowKey, ServiceEntry, Snapshot};
use crate::neigh;
use crate::stats::Ctr;
use crate::wire::{ethernet, ipv4};
use std::net::Ipv6Addr;
use std::sync::Arc;

/// The four accessors of a family's state in the worker: its table (field
/// `$table` of `Core`) and its templates (field `$templates` of `Shared`).
macro_rules! family_state {
    ($table:ident, $templates:ident, $expects:ident) => {
        #[inline]
        fn table(core: &Core) -> &ConnTable<Self> {
            &core.$table
        }
        #[inline]
        fn table_mut(core: &mut Core) -> &mut ConnTable<Self> {
            &mut core.$table
        }
        #[inline]
        fn split(core: &mut Core) -> Split<'_, Self> {
            Split {
                table: &mut core.$table,
                snap: &core.snap.cfg,
                peers: &core.snap.peers,
                out: &core.out,
                shared: &core.shared,
            }
        }
        #[inline]
        fn templates(shared: &Shared) -> &Templates<Self> {
            &shared.$templates
        }
        #[inline]
        fn expects(shared: &Shared) -> &crate::nat::ftp::Expects<Self> {
            &shared.$expects
        }
    };
}
pub(super) use family_state;

/// A TCP segment or UDP datagram that passed `classify`'s checks, of either
/// family: what the connection path needs of IPv4's `Segment` and IPv6's
/// `Segment6`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Seg<'a, A> {
    /// Ethernet + the IP packet (no padding).
    pub frame: &'a [u8],
    /// Where the TCP/UDP header starts in `frame`.
    pub l4_off: usize,
    pub proto: u8,
    pub src: A,
    pub dst: A,
    pub sport: u16,
    pub dport: u16,
    pub flags: u8,
    pub partial: bool,
}

impl<A> Seg<'_, A> {
    /// The IP packet's length (what per-server byte counters count).
    #[inline]
    pub fn ip_len(&self) -> u64 {
        (self.frame.len() - ethernet::HEADER_LEN) as u64
    }
}

impl<'a> From<Segment<'a>> for Seg<'a, u32> {
    #[inline]
    fn from(s: Segment<'a>) -> Self {
        Seg {
            frame: s.frame,
            l4_off: ethernet::HEADER_LEN + ipv4::HEADER_LEN,
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

/// A segment as its own family's type, for what is written per family (DR
/// and TUN forwarding).
pub(super) enum ByFamily<'a> {
    V4(Segment<'a>),
    V6(Seg<'a, Ipv6Addr>),
}

impl<'a, A: Addr> Seg<'a, A> {
    /// This segment as [`ByFamily`] (`None` for a mix, which no path makes).
    pub(super) fn by_family(&self) -> Option<ByFamily<'a>> {
        use std::net::IpAddr::{V4, V6};
        match (self.src.to_ip(), self.dst.to_ip()) {
            (V4(src), V4(dst)) => Some(ByFamily::V4(Segment {
                frame: self.frame,
                proto: self.proto,
                src: src.to_bits(),
                dst: dst.to_bits(),
                sport: self.sport,
                dport: self.dport,
                flags: self.flags,
                partial: self.partial,
            })),
            (V6(src), V6(dst)) => Some(ByFamily::V6(Seg {
                frame: self.frame,
                l4_off: self.l4_off,
                proto: self.proto,
                src,
                dst,
                sport: self.sport,
                dport: self.dport,
                flags: self.flags,
                partial: self.partial,
            })),
            _ => None,
        }
    }
}

/// A virtual service found for a new connection: its id (protocol, VIP,
/// port; port 0 for a catch-all), its entry, and for IPv6 its real servers'
/// addresses (index-aligned with the entry's; empty for IPv4).
pub(super) struct Svc<'a, A> {
    pub id: (u8, A, u16),
    pub entry: &'a ServiceEntry,
    pub addrs6: &'a [Ipv6Addr],
}

/// A family's connection table and the worker state its updates touch
/// (gauges, templates, timeouts, overload flags), borrowed apart from the rest of the core.
pub(super) struct Split<'a, A> {
    pub table: &'a mut ConnTable<A>,
    pub snap: &'a Snapshot,
    /// Every worker's published state (their gauges, for the overload
    /// flag: `overload.rs`).
    pub peers: &'a [Arc<Published>],
    pub out: &'a Published,
    pub shared: &'a Shared,
}

/// An address family of the NAT path: where its state lives in the worker and
/// what differs in how its packets are forwarded.
pub(super) trait Family: Addr + SyncFamily + super::batch::AheadKey {
    /// IPv4: the IPv6 share of the counters is not counted (health-check
    /// replies of both families are diverted before the generic path,
    /// `nat.rs` and `nat6.rs`; DR/TUN and sync serve both).
    const V4: bool;
    fn table(core: &Core) -> &ConnTable<Self>;
    fn table_mut(core: &mut Core) -> &mut ConnTable<Self>;
    /// The table with what its updates touch, borrowed apart.
    fn split(core: &mut Core) -> Split<'_, Self>;
    fn templates(shared: &Shared) -> &Templates<Self>;
    /// The FTP helper's expected data connections (`ftp.rs`).
    fn expects(shared: &Shared) -> &crate::nat::ftp::Expects<Self>;
    /// The service of a packet to `vip:port` ([`Snapshot::service_for`]).
    fn service(snap: &Snapshot, proto: u8, vip: Self, port: u16) -> Option<Svc<'_, Self>>;
    /// The service real server `id` is of ([`Snapshot::service_of_dest`]).
    fn service_of_dest(snap: &Snapshot, id: crate::config::DestId) -> Option<Svc<'_, Self>>;
    /// The mark of service `id`, if a firewall-mark service's (`nat::mark`:
    /// protocol 0, the mark in the address's first 32 bits), else 0.
    fn mark_of(id: (u8, Self, u16)) -> u32;

    /// The service connection `c` was scheduled by: its real server's, as
    /// IPVS's `cp->dest->svc`, so that rules added or changed since (a mark
    /// over its port, a mark's rules edited) do not move it; by its
    /// address and port only if its server is gone.
    #[inline]
    fn conn_service<'s>(snap: &'s Snapshot, c: &Conn<Self>) -> Option<Svc<'s, Self>> {
        Self::service_of_dest(snap, c.dest())
            .or_else(|| Self::service(snap, c.proto, c.vip, c.vport))
    }
    /// The address of the service's real server `i`.
    fn dest_addr(svc: &Svc<'_, Self>, i: usize) -> Option<Self>;
    /// What a reply from `rip:rport` that matched no connection is, if the
    /// real server is one of a one-packet-scheduling service ([`OpsReplies`]).
    ///
    /// [`OpsReplies`]: crate::nat::ops::OpsReplies
    fn ops_reply(snap: &Snapshot, rip: Self, rport: u16) -> Option<OpsReply<Self>>;
    /// Whether `src` may open a connection from the external side.
    fn plausible_client(core: &Core, src: Self) -> bool;
    /// Whether a real server reached by `fwd` at `rip` can be sent to.
    fn reachable(core: &Core, fwd: Forward, rip: Self) -> bool;
    /// The next hop of a packet of `c` going `dir` (out of the other NIC).
    fn hop(env: &Env, dir: Dir, c: &Conn<Self>) -> Option<Hop>;
    /// The rewrite of a TCP/UDP packet of `seg`.
    fn patch(rw: Rewrite<Self>, seg: &Seg<'_, Self>) -> Patch;
    /// The IP half of that rewrite, for a fragment past the first.
    fn patch_ip(rw: Rewrite<Self>) -> Patch;
    /// The worker of `workers` owning the flows of `client`.
    fn owner(env: &Env, client: (Self, u16), workers: usize) -> usize;

    /// The connection of `key` in the family's table; hashed once per
    /// frame: the hash the burst's prefetch computed is used when the key
    /// is the one it read (`batch.rs`).
    #[inline(always)]
    fn lookup(core: &Core, key: &FlowKey<Self>) -> Option<u32> {
        let table = Self::table(core);
        match Self::hash_in(&core.ahead, key) {
            Some(h) => table.lookup_hashed(key, h),
            None => table.lookup(key),
        }
    }
}

impl Family for u32 {
    const V4: bool = true;
    family_state!(table, templates, expects);
    #[inline]
    fn service(snap: &Snapshot, proto: u8, vip: Self, port: u16) -> Option<Svc<'_, Self>> {
        snap.service_for(proto, vip, port).map(|(id, entry)| Svc {
            id,
            entry,
            addrs6: &[],
        })
    }
    fn mark_of(id: (u8, Self, u16)) -> u32 {
        crate::nat::mark::mark_of(id)
    }
    #[inline]
    fn service_of_dest(snap: &Snapshot, id: crate::config::DestId) -> Option<Svc<'_, Self>> {
        snap.service_of_dest(id).map(|(id, entry)| Svc {
            id,
            entry,
            addrs6: &[],
        })
    }
    #[inline]
    fn dest_addr(svc: &Svc<'_, Self>, i: usize) -> Option<Self> {
        svc.entry.dests.get(i).map(|d| d.addr)
    }
    fn ops_reply(snap: &Snapshot, rip: Self, rport: u16) -> Option<OpsReply<Self>> {
        snap.ops_replies.find(rip, rport)
    }
    fn plausible_client(core: &Core, src: Self) -> bool {
        core.plausible_client(src)
    }
    fn reachable(core: &Core, fwd: Forward, rip: Self) -> bool {
        core.reachable(fwd, rip)
    }
    #[inline]
    fn hop(env: &Env, dir: Dir, c: &Conn<Self>) -> Option<Hop> {
        match dir {
            Dir::Input => neigh::next_hop(&env.int_net, None, c.rip),
            Dir::Output => neigh::next_hop(&env.ext_net, env.gateway, c.client),
        }
        .map(Hop::V4)
    }
    #[inline]
    fn patch(rw: Rewrite<Self>, seg: &Seg<'_, Self>) -> Patch {
        Patch::Nat(rw, seg.partial)
    }
    #[inline]
    fn patch_ip(rw: Rewrite<Self>) -> Patch {
        Patch::NatIp(rw)
    }
    #[inline]
    fn owner(env: &Env, client: (Self, u16), workers: usize) -> usize {
        env.owner(client, workers)
    }
}

/// The TCP/UDP packet an ICMP error quotes: its tuple as we sent it.
pub(super) struct Quote<A> {
    pub proto: u8,
    pub src: A,
    pub dst: A,
    pub sport: u16,
    pub dport: u16,
}

impl Core {
    /// Count a client's packet to real server `dest` (going `dir`) in the
    /// server's traffic before it is handed to the transmitter, whatever
    /// becomes of it there (too big, no route, no TX slot, its hop never
    /// resolved), as IPVS's `ip_vs_in_hook` and `ip_vs_in_icmp`
    /// (`ip_vs_core.c`) call `ip_vs_in_stats` before `packet_xmit`. A reply
    /// is counted once it went or was parked ([`Core::forwarded`]).
    ///
    /// Only on a server still in its service (one bit of the snapshot
    /// already loaded, `Snapshot::dest_live`; a weight-0 server is): a client's packet
    /// of a removed server's connection was dropped before, but an ICMP
    /// error about it is forwarded, and `ip_vs_in_stats` counts nothing on
    /// a server without `IP_VS_DEST_F_AVAILABLE`.
    #[inline(always)]
    pub(super) fn received(&mut self, dir: Dir, dest: DestId, bytes: u64) {
        if dir == Dir::Input && self.snap.cfg.dest_live(dest) {
            self.out.traffic.inbound(dest, bytes);
        }
    }

    /// Count a real server's reply (from server `dest`, going `dir`) that
    /// went out or was parked in the server's traffic (`forward_to` counted
    /// it in `fwd_ctr`'s counter): not one refused on the way (too big, no
    /// route), as the kernel's `ip_forward` refuses those before the
    /// FORWARD hook where IPVS's `ip_vs_out_hook` counts it
    /// (`ip_vs_out_stats`). A client's packet was counted before
    /// ([`Core::received`]). Only on a server still in its service
    /// (`Snapshot::dest_live`): a removed server's replies (and ICMP errors) are still
    /// forwarded while `expire_nodest_conn` is 0, and `ip_vs_out_stats`
    /// counts nothing on a server without `IP_VS_DEST_F_AVAILABLE`.
    #[inline(always)]
    pub(super) fn forwarded(&mut self, dir: Dir, dest: DestId, bytes: u64) {
        if dir == Dir::Output && self.snap.cfg.dest_live(dest) {
            self.out.traffic.outbound(dest, bytes);
        }
    }

    /// A TCP, UDP or SCTP packet received on `nic` whose TTL (hop limit)
    /// forwarding would take to 0: counted `drop_ttl`, and its sender told
    /// ([`Core::time_exceeded`]) when the director would have forwarded it:
    /// a client's to a service or on a connection, a real server's on a
    /// connection. Before scheduling, so it creates no connection. A
    /// packet to a service, of no connection, from a source that could not
    /// open one ([`Family::plausible_client`]) is `drop_bad_source`, as with
    /// a larger TTL, and gets nothing: the kernel drops a martian or local
    /// source in routing, before IPVS sees it (`ip_route_input_slow` →
    /// `martian_source`, `fib_validate_source`; IPv6: `ip6_rcv_core`), and
    /// RFC 1122 §3.2.2 sends no error to such an address.
    #[cold]
    #[inline(never)]
    pub(super) fn ttl_expired<A: Family, T: TxQueue>(
        &mut self,
        nic: Nic,
        seg: Seg<'_, A>,
        tx: &mut TxPair<T>,
    ) {
        let dir = match nic {
            Nic::Ext => 0,
            Nic::Int => 1,
        };
        let key = FlowKey::new(dir, seg.proto, seg.src, seg.sport, seg.dst, seg.dport);
        let known = A::lookup(self, &key).is_some();
        let to_service = !known
            && nic == Nic::Ext
            && A::service(&self.snap.cfg, seg.proto, seg.dst, seg.dport).is_some();
        if to_service && !A::plausible_client(self, seg.src) {
            return self.ctr.inc(Ctr::DropBadSource);
        }
        self.ctr.inc(Ctr::DropTtl);
        if known || to_service {
            self.time_exceeded(nic, seg.frame, tx);
        }
    }

    /// An ICMP error received on `nic` (outer destination and TTL or hop
    /// limit `outer`), quoting `q`: to the worker owning the connection, then
    /// translated towards the connection's other end by the rewrite `patch`
    /// makes of the connection's. As IPVS does (`ip_vs_core.c`:
    /// `ip_vs_out_icmp` / `ip_vs_out_icmp_v6` from the real servers' side,
    /// `ip_vs_in_icmp` / `ip_vs_in_icmp_v6` from the clients').
    pub(super) fn icmp_error_of<A: Family, T: TxQueue>(
        &mut self,
        (nic, frame): (Nic, &[u8]),
        (dst, ttl): (A, u8),
        q: &Quote<A>,
        handed: bool,
        tx: &mut TxPair<T>,
        patch: impl FnOnce(Rewrite<A>) -> Patch,
    ) {
        // Which end of the quoted packet is the client decides the owning worker.
        let (key, client) = match nic {
            // We sent VIP:vport → CIP:cport; the connection's input key reverses it.
            Nic::Ext => (
                FlowKey::new(0, q.proto, q.dst, q.dport, q.src, q.sport),
                (q.dst, q.dport),
            ),
            // We sent CIP:cport → RIP:rport; the output key reverses it.
            Nic::Int => (
                FlowKey::new(1, q.proto, q.dst, q.dport, q.src, q.sport),
                (q.src, q.sport),
            ),
        };
        let owner = A::owner(&self.env, client, self.workers);
        if owner != self.id && !handed {
            return self.hand_off(owner, nic, frame, false);
        }
        let Some(idx) = A::table(self).lookup(&key) else {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        };
        if ttl <= 1 {
            return self.ctr.inc(Ctr::DropTtl);
        }
        let c = A::table(self).get(idx);
        // The error must travel where the connection goes: to the client from the
        // inside, to the VIP from the outside. Anything else would let a host steer
        // ICMP from the VIP to an address of its choice. A deliberate
        // difference: IPVS translates whatever the outer destination
        // (`docs/design.md`, ICMP).
        let (bound, dir) = match nic {
            Nic::Ext => (dst == c.vip, Dir::Input),
            Nic::Int => (dst == c.client, Dir::Output),
        };
        if !bound {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        }
        let bytes = (frame.len() - ethernet::HEADER_LEN) as u64;
        // DR and TUN: from the client side, to the real server untranslated
        // (`direct_icmp.rs`). From the inside no DR or TUN connection is quoted:
        // its real server answers from the VIP, and its output key (the
        // server's address) is in no reply.
        if dir == Dir::Input && self.snap.cfg.any_direct {
            let dest = c.dest();
            let fwd = self.snap.cfg.forward_of(dest);
            if fwd != Forward::Masq {
                let rip = self.direct_rip(c);
                // Counted first, as `ip_vs_in_icmp` calls `ip_vs_in_stats`
                // before `ip_vs_icmp_xmit` (`Core::received`).
                self.received(Dir::Input, dest, bytes);
                self.icmp_error_direct(fwd, rip, frame, tx);
                return;
            }
        }
        let (rw, dest, hop) = (c.rewrite(dir), c.dest(), A::hop(&self.env, dir, c));
        // Counted with the connection's traffic, as IPVS does (`ip_vs_in_icmp`
        // / `ip_vs_out_icmp` call `ip_vs_in_stats` / `ip_vs_out_stats`): from
        // the client's side before the transmitter, from the server's once
        // it went (`Core::received`, `Core::forwarded`).
        self.received(dir, dest, bytes);
        let Some(hop) = hop else {
            return self.ctr.inc(Ctr::DropNoDest);
        };
        if self.forward_to((nic.other(), hop), frame, tx, Ctr::IcmpErrorNat, patch(rw)) {
            self.forwarded(dir, dest, bytes);
        }
    }
}

/// Whether real server `dest` of `snap` is the one `r` names: of the same
/// service, at the same address and port (a real server, or the service's
/// sorry server).
pub(super) fn names<A: Family>(snap: &Snapshot, dest: DestId, r: &Resolved<A>) -> bool {
    let Some(svc) = A::service_of_dest(snap, dest) else {
        return false;
    };
    if svc.id != r.svc {
        return false;
    }
    match svc.entry.dests.iter().position(|d| d.id == dest) {
        Some(i) => {
            A::dest_addr(&svc, i) == Some(r.addr)
                && svc.entry.dests.get(i).is_some_and(|d| d.port == r.port)
        }
        None => (svc.entry.sorry)
            .is_some_and(|x| x.id == dest && x.addr == r.addr.to_ip() && x.port == r.port),
    }
}
