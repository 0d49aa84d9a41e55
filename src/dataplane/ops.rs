//! One-packet scheduling (`ipvsadm -o`) in the worker: a datagram to such a
//! UDP service is scheduled as a new connection would be (`Core::new_conn`,
//! persistence templates included) and sent as that connection would send
//! it, but the connection is not kept, as IPVS frees its
//! `IP_VS_CONN_F_ONE_PACKET` connection once the datagram is out
//! (`ip_vs_conn.c`). The real server's replies, which match no connection,
//! are translated back from what the snapshot says of the server
//! (`nat::ops`, a deliberate difference from IPVS, which lets them out
//! untranslated).
//!
//! A datagram that arrives in fragments is scheduled by its first fragment,
//! and its other fragments go to the same real server: the first fragment's
//! entry in the fragment table names it (`Route::OnePacket`, `frag.rs`). A
//! reply's fragments are each translated.
//!
//! The replies are translated only where the snapshot can tell which
//! service they answer for (`nat::ops::OpsReplies::build`): a real server
//! address and port that also serves another UDP service (with `-o` or
//! without, exactly or through a port-0 service) is ambiguous and its
//! replies of no connection are dropped (`drop_ops_ambiguous`).

use super::family::{Family, Seg};
use super::frag_table::OpsTo;
use super::template::release_template;
use super::tx::TxPair;
use super::worker::Core;
use crate::Nic;
use crate::config::Forward;
use crate::io::TxQueue;
use crate::nat::ops::{ConnOut, OpsReply};
use crate::nat::persist::{TemplateDest, TemplateKey, Wanted};
use crate::nat::{Conn, Dir, FlowKey};
use crate::stats::Ctr;
use crate::wire::ipv4::protocol;

impl Core {
    /// A client's datagram to a one-packet-scheduling service, scheduled to
    /// `conn`'s real server: counted as one connection of the server (its
    /// `--stats` Conns, as IPVS's `ip_vs_conn_stats`), sent, and forgotten;
    /// a persistence template it went through is released at once, so it
    /// lives its `-p` from this datagram.
    pub(super) fn one_packet<A: Family, T: TxQueue>(
        &mut self,
        (conn, at): (Conn<A>, u32),
        seg: Seg<'_, A>,
        tx: &mut TxPair<T>,
    ) {
        let dest = conn.dest();
        self.frags.one_packet = Some(OpsTo {
            dest,
            rip: conn.rip.to_ip(),
            rport: conn.rport,
        });
        self.ctr.inc(Ctr::OpsScheduled);
        self.out.traffic.conn(dest);
        self.overload().passed(dest);
        if conn.template != 0 && self.sync.reporting() {
            self.sync_report_template::<A>(&conn);
        }
        let fwd = self.snap.cfg.forward_of(dest);
        if fwd != Forward::Masq {
            let rip = self.direct_rip(&conn);
            self.direct_to(dest, rip, fwd, seg.by_family(), tx);
        } else {
            // Counted first, whatever the transmitter makes of it
            // (`Core::received`).
            self.received(Dir::Input, dest, seg.ip_len());
            match A::hop(&self.env, Dir::Input, &conn) {
                Some(hop) => {
                    let patch = A::patch(conn.rewrite(Dir::Input), &seg);
                    let done = super::nat::fwd_ctr::<A>(Dir::Input);
                    self.forward_to((Nic::Int, hop), seg.frame, tx, done, patch);
                }
                None => self.ctr.inc(Ctr::DropNoDest),
            }
        }
        release_template(A::templates(&self.shared), &conn, at, self.clock.now_s);
    }

    /// A datagram from a real server that matched no connection: a reply of
    /// a one-packet-scheduling service leaves from its VIP, and one of a SIP
    /// service makes what IPVS's `conn_out` makes ([`Core::sip_conn_out`]);
    /// anything else is dropped (`drop_no_conn`). Out of line: the
    /// established path's reply lookup stays as it was.
    #[inline(never)]
    pub(super) fn ops_reply<A: Family, T: TxQueue>(&mut self, seg: Seg<'_, A>, tx: &mut TxPair<T>) {
        let found = self.ops_reply_conn(seg.proto, (seg.src, seg.sport), (seg.dst, seg.dport));
        let conn = match found {
            Ok((c, ConnOut::Nothing)) => c,
            Ok((c, out)) => match self.sip_conn_out(&c, &seg, out) {
                Ok(Some(idx)) => return self.nat_forward(idx, Dir::Output, seg, tx),
                Ok(None) => c,
                Err(why) => return self.ctr.inc(why),
            },
            Err(why) => return self.ctr.inc(why),
        };
        let Some(hop) = A::hop(&self.env, Dir::Output, &conn) else {
            return self.ctr.inc(Ctr::DropNoDest);
        };
        let (bytes, patch) = (seg.ip_len(), A::patch(conn.rewrite(Dir::Output), &seg));
        let done = super::nat::fwd_ctr::<A>(Dir::Output);
        if self.forward_to((Nic::Ext, hop), seg.frame, tx, done, patch) {
            self.forwarded(Dir::Output, conn.dest(), bytes);
        }
    }

    /// The connection a reply from `rip` to `client` that matched none would
    /// have had, if `rip` is a NAT real server of a one-packet-scheduling or
    /// SIP service, and what it makes on its way ([`ConnOut`]); else the
    /// reason to drop it.
    pub(super) fn ops_reply_conn<A: Family>(
        &self,
        proto: u8,
        rip: (A, u16),
        client: (A, u16),
    ) -> Result<(Conn<A>, ConnOut), Ctr> {
        if proto != protocol::UDP {
            return Err(Ctr::DropNoConn);
        }
        match A::ops_reply(&self.snap.cfg, rip.0, rip.1) {
            None => Err(Ctr::DropNoConn),
            Some(OpsReply::Ambiguous) => Err(Ctr::DropOpsAmbiguous),
            // Only to where a client could have sent from: never to one of
            // our addresses, the inside, or multicast.
            Some(OpsReply::From { .. }) if !A::plausible_client(self, client.0) => {
                Err(Ctr::DropNoConn)
            }
            Some(OpsReply::From {
                vip,
                vport,
                dest,
                conn_out,
            }) => {
                let vport = if vport == 0 { rip.1 } else { vport };
                Ok((Conn::new(proto, client, (vip, vport), rip, dest), conn_out))
            }
        }
    }

    /// IPVS's `conn_out` for a SIP service (`ip_vs_sip_conn_out` →
    /// `ip_vs_new_conn_out`, `ip_vs_core.c`): a datagram real server `conn`
    /// starts towards a client, with no connection, puts the template of its
    /// Call-ID on this server (the one found if it names this server and is
    /// valid, as `ip_vs_check_template` with its `cdest`; else a new one),
    /// so the client's requests of that call come back to it; and, without
    /// `-o` ([`ConnOut::Conn`]), a connection from the client's port to the
    /// VIP (its index), through which the datagram leaves and the client's
    /// answers come back; one the client's port had to another server is
    /// replaced. A datagram whose Call-ID cannot be read makes
    /// nothing: with `-o` it leaves from the VIP as any reply, without it
    /// is dropped (`drop_no_callid`; IPVS returns no connection and lets it
    /// out untranslated). Without `-p` only the connection is made and the
    /// Call-ID is not read, as `ip_vs_new_conn_out` builds the template
    /// (and `fill_param` reads the Call-ID) for a persistent service only.
    #[cold]
    fn sip_conn_out<A: Family>(
        &mut self,
        conn: &Conn<A>,
        seg: &Seg<'_, A>,
        out: ConnOut,
    ) -> Result<Option<u32>, Ctr> {
        let svc = A::conn_service(&self.snap.cfg, conn).ok_or(Ctr::DropNoService)?;
        let Some(p) = svc.entry.persist else {
            // `ops_replies` gives a `-o` service without `-p` no conn_out.
            if out != ConnOut::Conn {
                return Ok(None);
            }
            let made = self.conn_out_conn(conn)?;
            self.ctr.inc(Ctr::SipConnOut);
            return Ok(Some(made));
        };
        let d = (svc.entry.dests.iter())
            .find(|d| d.id == conn.dest())
            .ok_or(Ctr::DropNoDest)?;
        let payload = seg.frame.get(seg.l4_off + 8..).unwrap_or_default();
        let Some(id) = crate::nat::sip::call_id(payload) else {
            // With `-o` it leaves from the VIP all the same, as before.
            return match out {
                ConnOut::Conn => Err(Ctr::DropNoCallId),
                _ => Ok(None),
            };
        };
        let (key, here) = (
            TemplateKey::new(svc.id, conn.client, p.mask),
            TemplateDest {
                id: d.id,
                addr: conn.rip,
                port: d.port,
            },
        );
        let valid_weight = !(self.env.sysctl.expire_quiescent_template && d.weight == 0);
        let made = match out {
            ConnOut::Conn => Some(self.conn_out_conn(conn)?),
            _ => None,
        };
        let templates = A::templates(&self.shared);
        let key = templates.with_call_id(key, id);
        let valid = |t: &TemplateDest<A>| *t == here && valid_weight;
        let want = Wanted {
            key,
            call_id: Some(id),
        };
        match templates.schedule(want, p, self.clock.now_s, valid, || Some(here)) {
            Some((_, link)) if link.generation != 0 => {
                templates.release_at(link, self.clock.now_s);
                if self.sync.reporting() {
                    self.sync_report_sip(conn, (key, link.generation), id);
                }
            }
            _ => self.ctr.inc(Ctr::SipUntemplated),
        }
        self.ctr.inc(Ctr::SipConnOut);
        Ok(made)
    }

    /// The connection `conn_out` makes for `conn` (a real server's datagram
    /// of no connection, its client's port to the VIP), counted, timed and
    /// synced as any new connection ([`Core::admit`]). The client's port may
    /// hold a connection to another server (a user agent keeps one port for
    /// all its dialogs): IPVS hashes the new one in front of it, so the
    /// client's next datagrams go to the new one; here it replaces it.
    fn conn_out_conn<A: Family>(&mut self, conn: &Conn<A>) -> Result<u32, Ctr> {
        let in_key = FlowKey::new(0, conn.proto, conn.client, conn.cport, conn.vip, conn.vport);
        if let Some(old) = A::lookup(self, &in_key) {
            self.drop_conn_of::<A>(old);
        }
        // Counted in `Conns`: `ip_vs_new_conn_out` calls `ip_vs_conn_stats`.
        self.admit(conn.clone(), 0, true)
    }

    /// The connection the datagram of `client` to `vip` has on real server
    /// `to`, which a one-packet-scheduling service chose for its first
    /// fragment (the datagram's other fragments go there too, `frag.rs`),
    /// if its id still sends to the same address and port; else
    /// `drop_ops_gone` (no ICMP: the datagram was scheduled).
    pub(super) fn one_packet_conn<A: Family>(
        &self,
        proto: u8,
        client: (A, u16),
        vip: (A, u16),
        to: OpsTo,
    ) -> Result<Conn<A>, Ctr> {
        let dest = to.dest;
        let svc = A::service(&self.snap.cfg, proto, vip.0, vip.1).ok_or(Ctr::DropNoService)?;
        let i = (svc.entry.dests.iter())
            .position(|d| d.id == dest)
            .ok_or(Ctr::DropOpsGone)?;
        let (Some(d), Some(rip)) = (svc.entry.dests.get(i), A::dest_addr(&svc, i)) else {
            return Err(Ctr::DropOpsGone);
        };
        let rport = real_port(d.port, svc.entry.persist.is_some(), svc.id.2, vip.1);
        // The id another server's now (the first's removed, its id given
        // to a new one): not sent there, counted as the server gone.
        if (rip.to_ip(), rport) != (to.rip, to.rport) {
            return Err(Ctr::DropOpsGone);
        }
        Ok(Conn::new(proto, client, vip, (rip, rport), dest))
    }
}

/// The port of a real server on `dest_port` for a packet to `dport` of a
/// service on `svc_port`: the server's, or the packet's when it has none
/// (`-r RIP`), as `ip_vs_schedule`; a persistent service takes the packet's
/// port too when the packet is not to the service's own port (a port-0
/// service, or an FTP data connection), as `ip_vs_sched_persist` (`ip_vs_core.c`).
pub(super) fn real_port(dest_port: u16, persistent: bool, svc_port: u16, dport: u16) -> u16 {
    if dest_port != 0 && (!persistent || dport == svc_port) {
        dest_port
    } else {
        dport
    }
}
