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
//! A datagram that arrives in fragments: its first fragment is scheduled
//! here like any datagram, and its later fragments find no connection
//! (`drop_no_conn`); a reply's fragments are each translated.

use super::family::{Family, Seg};
use super::nat::release_template;
use super::tx::{Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::config::Forward;
use crate::io::TxQueue;
use crate::nat::ops::OpsReply;
use crate::nat::{Conn, Dir};
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
        conn: Conn<A>,
        seg: Seg<'_, A>,
        tx: &mut TxPair<T>,
    ) {
        let dest = conn.dest();
        self.ctr.inc(Ctr::OpsScheduled);
        self.out.traffic.conn(dest);
        if conn.template != 0 && self.sync.reporting() {
            self.sync_report_template::<A>(&conn);
        }
        let fwd = self.snap.cfg.forward_of(dest);
        if fwd != Forward::Masq {
            let rip = self.direct_rip(&conn);
            self.direct_to(dest, rip, fwd, seg.by_family(), tx);
        } else if let Some(hop) = A::hop(&self.env, Dir::Input, &conn) {
            let bytes = seg.ip_len();
            let patch = A::patch(conn.rewrite(Dir::Input), &seg);
            if self.forward_to((Nic::Int, hop), seg.frame, tx, Ctr::FwdIn, patch) {
                self.forwarded::<A>(Dir::Input, dest, bytes);
            }
        } else {
            self.ctr.inc(Ctr::DropNoService);
        }
        release_template(A::templates(&self.shared), &self.snap.cfg, &conn);
    }

    /// A datagram from a real server that matched no connection: a reply of
    /// a one-packet-scheduling service leaves from its VIP; anything else is
    /// dropped (`drop_no_conn`).
    pub(super) fn ops_reply<A: Family, T: TxQueue>(&mut self, seg: Seg<'_, A>, tx: &mut TxPair<T>) {
        match self.ops_reply_conn(seg.proto, (seg.src, seg.sport), (seg.dst, seg.dport)) {
            Ok(conn) => {
                let patch = A::patch(conn.rewrite(Dir::Output), &seg);
                self.ops_reply_send(&conn, patch, seg.frame, seg.ip_len(), tx);
            }
            Err(why) => self.ctr.inc(why),
        }
    }

    /// The connection a reply from `rip` to `client` that matched none would
    /// have had, if `rip` is a NAT real server of a one-packet-scheduling
    /// service; else the reason to drop it.
    pub(super) fn ops_reply_conn<A: Family>(
        &self,
        proto: u8,
        rip: (A, u16),
        client: (A, u16),
    ) -> Result<Conn<A>, Ctr> {
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
            Some(OpsReply::From { vip, vport, dest }) => {
                let vport = if vport == 0 { rip.1 } else { vport };
                Ok(Conn::new(proto, client, (vip, vport), rip, dest))
            }
        }
    }

    /// Send a reply of `conn` (a one-packet-scheduling service's), rewritten
    /// by `patch`, to its client, and count it on the real server.
    pub(super) fn ops_reply_send<A: Family, T: TxQueue>(
        &mut self,
        conn: &Conn<A>,
        patch: Patch,
        frame: &[u8],
        bytes: u64,
        tx: &mut TxPair<T>,
    ) {
        let Some(hop) = A::hop(&self.env, Dir::Output, conn) else {
            return self.ctr.inc(Ctr::DropNoService);
        };
        if self.forward_to((Nic::Ext, hop), frame, tx, Ctr::FwdOut, patch) {
            self.forwarded::<A>(Dir::Output, conn.dest(), bytes);
        }
    }
}
