//! Direct routing and tunnelling (`ipvsadm -g` and `-i`): the client's packets
//! go to the real server, its replies go to the client without the director.
//!
//! * **DR** (`ip_vs_dr_xmit`, `ip_vs_xmit.c`): the IP packet leaves as it came
//!   (no TTL or checksum change), only the Ethernet header changes: to the
//!   real server's MAC, on the NIC where the server is on-link.
//! * **TUN** (`ip_vs_tunnel_xmit`): the packet is encapsulated, IPIP, GUE or
//!   GRE (`wire::encap`), from the director's address on the egress NIC to the
//!   real server's, which may be off-link (`--gateway` on the external side,
//!   `--int-gateway` on the internal one). A packet with DF that no longer
//!   fits the egress MTU after encapsulation gets ICMP "fragmentation needed"
//!   with the MTU less the overhead, as `ip_vs_tunnel_xmit` does through
//!   `ensure_mtu_is_adequate`; one without DF is dropped (`drop_too_big`),
//!   where IPVS would fragment the outer packet (ringvs never fragments).
//!
//! The connection is tracked from the client's packets alone, with IPVS's
//! input-only TCP states (`set_tcp_state` with `IP_VS_CONN_F_NOOUTPUT`,
//! `ip_vs_proto_tcp.c`; see `nat::state`).
//!
//! An encapsulated frame is built in a buffer of the worker's (the frame grows,
//! so it cannot be sent from its RX buffer) and then sent like any other frame
//! (`forward`): one more copy than NAT, no allocation.

use super::classify::Segment;
use super::tx::{Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::config::{Forward, TunCsum, TunKind, Tunnel};
use crate::io::TxQueue;
use crate::neigh;
use crate::stats::Ctr;
use crate::wire::encap::{self, Encap, Outer};
use crate::wire::ethernet;

/// TTL of the outer header (the kernel's default `ip_default_ttl`).
const OUTER_TTL: u8 = 64;

impl Core {
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

    /// Send a client packet to its DR or TUN real server `rip`. True if it
    /// went out (or waits for ARP).
    pub(super) fn forward_direct<T: TxQueue>(
        &mut self,
        fwd: Forward,
        rip: u32,
        seg: Segment<'_>,
        tx: &mut TxPair<T>,
    ) -> bool {
        // A partial checksum is completed: nothing downstream would.
        let patch = if seg.partial {
            Patch::Complete(seg.proto)
        } else {
            Patch::None
        };
        match fwd {
            Forward::Masq => false,
            Forward::Route => match self.dr_hop(rip) {
                Some(hop) => self.forward(hop, seg.frame, tx, Ctr::FwdIn, patch),
                None => self.drop(Ctr::DropNoDest),
            },
            Forward::Tunnel(t) => self.tunnel(t, rip, seg, patch, tx),
        }
    }

    fn tunnel<T: TxQueue>(
        &mut self,
        t: Tunnel,
        rip: u32,
        seg: Segment<'_>,
        patch: Patch,
        tx: &mut TxPair<T>,
    ) -> bool {
        let Some((nic, hop)) = self.tunnel_hop(rip) else {
            return self.drop(Ctr::DropNoDest);
        };
        let e = match t.kind {
            TunKind::Ipip => Encap::Ipip,
            TunKind::Gue => Encap::Gue {
                sport: gue_sport(&seg),
                port: t.port,
                csum: t.csum == TunCsum::Csum,
            },
            TunKind::Gre => Encap::Gre {
                csum: t.csum == TunCsum::Csum,
            },
        };
        let mtu = self.env.mtu[nic as usize];
        let inner = &seg.frame[ethernet::HEADER_LEN..];
        if inner.len() + e.overhead() > mtu {
            // `ip_vs_tunnel_xmit`: the sender learns the MTU less the overhead.
            let room = mtu.saturating_sub(e.overhead()) as u32;
            self.frag_needed_mtu(nic, seg.frame, room, tx);
            return self.drop(Ctr::DropTooBig);
        }
        let mut buf = std::mem::take(&mut self.encap_buf);
        let src = match nic {
            Nic::Int => self.env.int_net.addr,
            Nic::Ext => self.env.ext_net.addr,
        };
        self.encap_ident = self.encap_ident.wrapping_add(1);
        let outer = Outer {
            src,
            dst: rip.into(),
            ident: self.encap_ident,
            ttl: OUTER_TTL,
        };
        let h = ethernet::HEADER_LEN;
        // A partial inner checksum is completed in the copy, before the outer
        // checksums cover it.
        let fix = |ip: &mut [u8]| {
            if let Patch::Complete(proto) = patch {
                crate::nat::rewrite::fill_l4_checksum_ip(ip, proto);
            }
        };
        let sent = match buf
            .get_mut(h..)
            .and_then(|b| encap::encapsulate(b, inner, e, &outer, fix))
        {
            Some(n) => {
                buf[..h].copy_from_slice(&seg.frame[..h]);
                // `forward` must not take this for the RX frame (zero copy).
                let zc = self.zc.out.take();
                let ok = self.forward((nic, hop), &buf[..h + n], tx, Ctr::FwdIn, Patch::None);
                self.zc.out = zc;
                if ok {
                    self.ctr.inc(Ctr::TunnelEncap);
                }
                ok
            }
            None => self.drop(Ctr::DropTooBig),
        };
        self.encap_buf = buf;
        sent
    }
}

/// GUE's UDP source port: a hash of the inner flow in the ephemeral range, so
/// that ECMP and RSS on the way spread flows (`udp_flow_src_port`).
#[inline]
fn gue_sport(seg: &Segment<'_>) -> u16 {
    let x = seg.src ^ seg.dst.rotate_left(16) ^ (u32::from(seg.sport) << 16 | u32::from(seg.dport));
    let h = x.wrapping_mul(0x9e37_79b1) >> 16;
    49152 + (h % 16384) as u16
}
