//! A fragment on its datagram's connection, once `frag.rs` has brought it to
//! the worker owning that connection: the first fragment through the usual
//! NAT path (`nat.rs`), which may create the connection; the others
//! translated by the connection the remembered ports name, with the IP half
//! of its rewrite (`rewrite::nat_ip`, `nat_ip6`), or sent on to a DR or TUN
//! server unchanged or encapsulated. They never create a connection nor move
//! its state.
//!
//! SCTP's CRC32c covers the whole SCTP packet and no IP address: fragments
//! go on where the rewrite keeps the ports (NAT to the virtual port, DR,
//! TUN), and are dropped where it changes one (`drop_sctp_frag_port`), a
//! deliberate difference from IPVS, which computes the CRC32c again over
//! the datagram the kernel reassembled (`sctp_dnat_handler`,
//! `sctp_snat_handler`, `ip_vs_proto_sctp.c`).
//!
//! An IPv6 atomic fragment (offset 0, M clear, RFC 6946) never comes here:
//! it is the whole packet it holds, taken on as one in `classify`
//! (`frag::atomic6`).

use super::frag_table::{OpsTo, Piece, first_ports};
use super::nat::{Family, InConn, Seg};
use super::tx::{Hop, Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::config::Forward;
use crate::io::TxQueue;
use crate::nat::{Conn, Dir, FlowKey};
use crate::stats::Ctr;
use crate::wire::ethernet;
use crate::wire::ipv4::protocol;
use std::net::Ipv6Addr;

impl Core {
    /// [`Core::frag_nat`] of the fragment's family.
    pub(super) fn frag_nat_of<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        (p, proto, ops): (Piece, u8, Option<OpsTo>),
        (sport, dport): (u16, u16),
        tx: &mut TxPair<T>,
    ) {
        let (src, dst) = (p.key.src, p.key.dst);
        let what = (p, proto, ops);
        if p.key.v6 {
            let (src, dst) = (Ipv6Addr::from_bits(src), Ipv6Addr::from_bits(dst));
            self.frag_nat::<Ipv6Addr, T>(nic, frame, what, (src, sport, dst, dport), tx);
        } else {
            let (src, dst) = (src as u32, dst as u32);
            self.frag_nat::<u32, T>(nic, frame, what, (src, sport, dst, dport), tx);
        }
    }

    /// A fragment whose datagram's ports are known, on this worker, which
    /// owns its connection: the first through the NAT path, the others on
    /// the connection the ports name.
    fn frag_nat<A: Family, T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        (p, proto, ops): (Piece, u8, Option<OpsTo>),
        (src, sport, dst, dport): (A, u16, A, u16),
        tx: &mut TxPair<T>,
    ) {
        let dir = match nic {
            Nic::Ext => Dir::Input,
            Nic::Int => Dir::Output,
        };
        let seg = |l4_off: usize, flags: u8| Seg {
            frame,
            l4_off,
            proto,
            src,
            dst,
            sport,
            dport,
            flags,
            partial: false,
        };
        if let Some((_, at)) = p.upper {
            let at = usize::from(at);
            let flags = first_ports(proto, &frame[at..]).map_or(0, |p| p.2);
            // Past `nat_out`'s health-check divert: a check's answer in
            // fragments is not put together (`docs/health.md`: TCP answers
            // are cut to the announced MSS, a UDP check's must fit the MTU).
            return match dir {
                _ if proto == protocol::SCTP => self.sctp_first(dir, seg(at, flags), tx),
                Dir::Input => self.nat_in_of(seg(at, flags), tx),
                Dir::Output => self.nat_out_of(seg(at, flags), tx),
            };
        }
        // A later IPv6 fragment whose own next header says ICMPv6 to one of
        // our addresses passed `fragment6` with any hop limit (it might have
        // been part of an echo request to us); its datagram is forwarded, so
        // it is checked here as the others were there (`decrement_ttl`,
        // `ip_vs_xmit.c`).
        if p.key.v6 && frame.get(ethernet::HEADER_LEN + 7).is_some_and(|&h| h <= 1) {
            return self.ctr.inc(Ctr::DropTtl);
        }
        let key = FlowKey::new(u8::from(dir == Dir::Output), proto, src, sport, dst, dport);
        let bytes = (frame.len() - ethernet::HEADER_LEN) as u64;
        let conn = match ops {
            // A datagram of a one-packet-scheduling service: to the server
            // its first fragment went to (`ops.rs`).
            Some(to) => self.one_packet_conn(proto, (src, sport), (dst, dport), to),
            None => match A::table(self).lookup(&key) {
                Some(idx) => {
                    let c = A::table(self).get(idx);
                    let gone = !self.snap.cfg.dest_live(c.dest())
                        && (dir == Dir::Input || self.env.sysctl.expire_nodest_conn);
                    if gone {
                        Err(Ctr::DropNoDestConn)
                    } else {
                        Ok(c.clone())
                    }
                }
                // A reply of a one-packet-scheduling service has none. A
                // SIP server's own datagram in fragments makes no
                // connection: with `-p` it needs its Call-ID, which a
                // fragment does not show (IPVS reads the reassembled one).
                None if dir == Dir::Output => {
                    match self.ops_reply_conn(proto, (src, sport), (dst, dport)) {
                        Ok((_, crate::nat::ops::ConnOut::Conn)) => Err(Ctr::DropNoConn),
                        found => found.map(|(c, _)| c),
                    }
                }
                None => Err(Ctr::DropNoConn),
            },
        };
        let c = match conn {
            Ok(c) => c,
            Err(why) => return self.ctr.inc(why),
        };
        let dest = c.dest();
        let fwd = self.snap.cfg.forward_of(dest);
        if dir == Dir::Input && fwd != Forward::Masq {
            let rip = self.direct_rip(&c);
            // Counted first, whatever the transmitter makes of it
            // (`Core::received`).
            self.out.traffic.inbound(dest, bytes);
            self.frag_direct(fwd, rip, seg(frame.len(), 0), tx);
            return;
        }
        if proto == protocol::SCTP && self.sctp_port_changes(&c, dir) {
            return self.ctr.inc(Ctr::DropSctpFragPort);
        }
        self.received(dir, dest, bytes);
        let rw = c.rewrite(dir);
        // As in `nat_send`: a connection this director cannot reach.
        let Some(hop) = A::hop(&self.env, dir, &c) else {
            return self.ctr.inc(Ctr::DropNoDest);
        };
        let (out, done) = (super::nat::dir_nic(dir), super::nat::fwd_ctr::<A>(dir));
        if self.forward_to((out, hop), frame, tx, done, A::patch_ip(rw)) {
            self.forwarded(dir, dest, bytes);
        }
    }

    /// A fragment past the first of a DR or TUN connection: to the real
    /// server unchanged (but the TTL or hop limit) or encapsulated.
    fn frag_direct<A: Family, T: TxQueue>(
        &mut self,
        fwd: Forward,
        rip: std::net::IpAddr,
        seg: Seg<'_, A>,
        tx: &mut TxPair<T>,
    ) -> bool {
        use super::family::ByFamily;
        use std::net::IpAddr::V6;
        match seg.by_family() {
            Some(ByFamily::V4(s)) => self.forward_direct(fwd, rip, s, tx),
            Some(ByFamily::V6(s)) => match (fwd, rip) {
                // Not `forward_direct6`, whose rewrite would write the ports
                // into this fragment's data.
                (Forward::Route, V6(rip)) => match self.dr_hop6(rip) {
                    Some(nic) => {
                        let hop = (nic, Hop::V6(rip));
                        self.forward_to(hop, seg.frame, tx, Ctr::FwdIn6, Patch::HopLimit6)
                    }
                    None => self.drop(Ctr::DropNoDest),
                },
                _ => self.forward_direct6(fwd, rip, s, tx),
            },
            None => self.drop(Ctr::DropNoDest),
        }
    }

    /// An SCTP datagram's first fragment, on the NAT path unless its
    /// connection's rewrite changes a port: the CRC32c covers the whole
    /// datagram, which no fragment holds, so it cannot be computed again
    /// (`drop_sctp_frag_port`; IPVS reassembles first, and its
    /// `sctp_dnat_handler`, `sctp_snat_handler` compute it over the whole).
    /// A client's INIT that meets a connection it ends (`check_in`) is
    /// scheduled anew, and a new connection that would change the port is
    /// refused in `Core::new_conn`. The CRC is not verified: a fragment
    /// does not hold what it covers (the far end's SCTP checks the whole).
    #[cold]
    fn sctp_first<A: Family, T: TxQueue>(&mut self, dir: Dir, seg: Seg<'_, A>, tx: &mut TxPair<T>) {
        let out = u8::from(dir == Dir::Output);
        let key = FlowKey::new(out, seg.proto, seg.src, seg.sport, seg.dst, seg.dport);
        if let Some(idx) = A::table(self).lookup(&key) {
            // A reply whose server is gone, under `expire_nodest_conn`,
            // expires its connection in `nat_out_of`, as a whole one does.
            let gone = !self.snap.cfg.dest_live(A::table(self).get(idx).dest())
                && self.env.sysctl.expire_nodest_conn;
            let used = match dir {
                Dir::Output => !gone,
                Dir::Input => matches!(self.check_in::<A>(idx, seg.proto, seg.flags), InConn::Use),
            };
            if used && self.sctp_port_changes(A::table(self).get(idx), dir) {
                self.frags.sctp_refused = true;
                return self.ctr.inc(Ctr::DropSctpFragPort);
            }
        }
        if dir == Dir::Output {
            return self.nat_out_of(seg, tx);
        }
        self.frags.sctp_first = true;
        self.nat_in_of(seg, tx);
        self.frags.sctp_first = false;
    }

    /// Whether connection `c`'s rewrite of a packet going `dir` changes a
    /// port: NAT (a DR or TUN server's client packets keep theirs) to a
    /// real server port other than the virtual one.
    fn sctp_port_changes<A: Family>(&self, c: &Conn<A>, dir: Dir) -> bool {
        c.vport != c.rport
            && (dir == Dir::Output || self.snap.cfg.forward_of(c.dest()) == Forward::Masq)
    }
}
