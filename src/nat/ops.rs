//! One-packet scheduling (`ipvsadm -o`, IPVS's `IP_VS_SVC_F_ONEPACKET`): each
//! UDP datagram to such a service is scheduled on its own, and no connection
//! is kept for it.
//!
//! IPVS creates a connection flagged `IP_VS_CONN_F_ONE_PACKET` for the
//! datagram (`ip_vs_schedule` and `ip_vs_sched_persist`, `ip_vs_core.c`),
//! never hashes it (`ip_vs_conn_hash`, `ip_vs_conn.c`) and frees it once the
//! datagram is sent. So a real server's reply finds no connection in
//! `ip_vs_out_hook` and leaves the director untranslated, from the real
//! server's address (`ip_vs_update_conntrack`, `ip_vs_nfct.c`: "no reply is
//! expected"); a NAT client then gets its answer from an address it did not
//! ask.
//!
//! ringvs translates such replies back without state (a deliberate
//! difference, `docs/ipvsadm.md`): a UDP datagram from a NAT real server of a
//! one-packet-scheduling service that matches no connection leaves from the
//! service's VIP and port. [`OpsReplies`] is the map that makes this one
//! lookup: a real server's address and port to the service it answers for.
//! A real server address and port serving two such services cannot be told
//! apart, and its replies are dropped (`drop_ops_ambiguous`).
//!
//! The same map finds the real servers of SIP services (`--pe sip`) for
//! IPVS's `conn_out` (`ip_vs_pe_sip.c`, `ip_vs_sip_conn_out`, and
//! `ip_vs_core.c`, `__ip_vs_rs_conn_out` and `ip_vs_new_conn_out`): a
//! datagram a real server starts (a BYE, a re-INVITE) matches no connection,
//! and [`ConnOut`] says what it makes on its way out.

use crate::config::DestId;
use hashbrown::HashMap;
use std::hash::Hash;

/// What a real server's datagram of no connection makes besides leaving
/// from the VIP: IPVS's `ip_vs_new_conn_out`, for a SIP service of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnOut {
    /// Nothing (a `-o` service without the SIP engine, or of port 0, where
    /// `ip_vs_new_conn_out` makes nothing).
    Nothing,
    /// The template of the datagram's Call-ID, on this real server (a `-o`
    /// SIP service: its connection would be one packet's).
    Template,
    /// The template and a connection from the client's port to the VIP
    /// (a SIP service without `-o`), through which the datagram leaves.
    Conn,
}

/// Where a reply from a real server of a one-packet-scheduling NAT service
/// leaves from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpsReply<A> {
    /// From the VIP and port (0: a port-0 service, whose replies keep their
    /// source port, the port the client sent to), counted on real server
    /// `dest`, making `conn_out`.
    From {
        vip: A,
        vport: u16,
        dest: DestId,
        conn_out: ConnOut,
    },
    /// The real server's address and port may answer for more than one
    /// service: two `-o` services, or a `-o` service and one whose late
    /// replies (their connection gone) must not leave from its VIP.
    Ambiguous,
}

/// A UDP NAT real server as [`OpsReplies::build`] takes it: the address and
/// port its replies come from (0: any port, a port-0 service's), and for a
/// `-o` or SIP service's, where they leave from and what they make (`None`:
/// a service with neither).
#[derive(Clone, Copy, Debug)]
pub struct Server<A> {
    pub rip: A,
    pub rport: u16,
    pub ops: Option<(A, u16, DestId, ConnOut)>,
}

/// The real servers of one-packet-scheduling NAT services, by the address
/// and port their replies come from (port 0: any port, for a port-0
/// service). Empty when there are none.
#[derive(Debug)]
pub struct OpsReplies<A> {
    map: HashMap<(A, u16), OpsReply<A>>,
}

impl<A> Default for OpsReplies<A> {
    fn default() -> Self {
        OpsReplies {
            map: HashMap::new(),
        }
    }
}

impl<A: Copy + Eq + Hash> OpsReplies<A> {
    /// The map of the UDP NAT real servers `servers`, of every service with
    /// `-o` or without. A reply of no connection from `rip:rport` leaves from
    /// a `-o` service's VIP only if that is the one service it can belong
    /// to: every service whose server answers from `rip:rport`, exactly or
    /// through a port-0 service of `rip` (whose replies come from any port),
    /// is that one; else it is [`OpsReply::Ambiguous`]. Addresses and ports
    /// of services without `-o` alone are left out (their replies need a
    /// connection, as before).
    pub fn build(servers: impl IntoIterator<Item = Server<A>>) -> Self {
        let mut all: HashMap<(A, u16), Vec<Option<OpsReply<A>>>> = HashMap::new();
        for s in servers {
            let reply = s.ops.map(|(vip, vport, dest, conn_out)| OpsReply::From {
                vip,
                vport,
                dest,
                conn_out,
            });
            all.entry((s.rip, s.rport)).or_default().push(reply);
        }
        let mut map = HashMap::new();
        for (&(rip, rport), here) in &all {
            let any_port = match rport {
                0 => None,
                _ => all.get(&(rip, 0)),
            };
            let mut seen = here.iter().chain(any_port.into_iter().flatten());
            let Some(first) = seen.clone().find_map(|r| *r) else {
                continue;
            };
            let one = seen.all(|r| *r == Some(first));
            map.insert((rip, rport), if one { first } else { OpsReply::Ambiguous });
        }
        OpsReplies { map }
    }

    /// Whether no service schedules one packet at a time.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// What a reply from `rip:rport` that matched no connection is: the
    /// entry of that port, else of the address's port-0 service.
    #[inline]
    pub fn find(&self, rip: A, rport: u16) -> Option<OpsReply<A>> {
        if self.map.is_empty() {
            return None;
        }
        self.map
            .get(&(rip, rport))
            .or_else(|| self.map.get(&(rip, 0)))
            .copied()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn ops(rip: u32, rport: u16, vip: u32, vport: u16, dest: u32) -> Server<u32> {
        Server {
            rip,
            rport,
            ops: Some((vip, vport, DestId(dest), ConnOut::Nothing)),
        }
    }

    fn plain(rip: u32, rport: u16) -> Server<u32> {
        Server {
            rip,
            rport,
            ops: None,
        }
    }

    fn from(vip: u32, vport: u16, d: u32) -> Option<OpsReply<u32>> {
        Some(OpsReply::From {
            vip,
            vport,
            dest: DestId(d),
            conn_out: ConnOut::Nothing,
        })
    }

    #[test]
    fn one_service_per_server_port_and_port_zero_as_fallback() {
        assert_eq!(OpsReplies::<u32>::default().find(1, 53), None);
        let m = OpsReplies::build([ops(1, 53, 100, 53, 1), ops(2, 0, 100, 0, 2)]);
        assert_eq!(m.find(1, 53), from(100, 53, 1));
        assert_eq!(m.find(1, 54), None);
        assert_eq!(m.find(2, 5353), from(100, 0, 2));
    }

    #[test]
    fn a_server_port_that_may_answer_for_two_services_is_ambiguous() {
        // The same server port behind a second -o VIP.
        let m = OpsReplies::build([ops(1, 53, 100, 53, 1), ops(1, 53, 101, 53, 3)]);
        assert_eq!(m.find(1, 53), Some(OpsReply::Ambiguous));
        // A -o service's port, and a port-0 -o service of the same address
        // (whose replies come from any port, 53 too).
        let m = OpsReplies::build([ops(2, 0, 100, 0, 2), ops(2, 53, 102, 53, 4)]);
        assert_eq!(m.find(2, 53), Some(OpsReply::Ambiguous));
        assert_eq!(m.find(2, 5353), from(100, 0, 2));
        // A service without -o on the same port: its late replies must not
        // leave from the -o VIP.
        let m = OpsReplies::build([ops(1, 53, 100, 53, 1), plain(1, 53)]);
        assert_eq!(m.find(1, 53), Some(OpsReply::Ambiguous));
        // ... nor through a -o port-0 service of the address.
        let m = OpsReplies::build([ops(2, 0, 100, 0, 2), plain(2, 53)]);
        assert_eq!(m.find(2, 53), Some(OpsReply::Ambiguous));
        assert_eq!(m.find(2, 54), from(100, 0, 2));
        // A plain port-0 service makes every -o port of the address so.
        let m = OpsReplies::build([ops(3, 53, 100, 53, 5), plain(3, 0)]);
        assert_eq!(m.find(3, 53), Some(OpsReply::Ambiguous));
        // Services without -o alone leave nothing.
        let m = OpsReplies::build([plain(4, 53), plain(4, 0)]);
        assert!(m.is_empty());
        // A SIP service's server (`conn_out`) is there, unless another
        // service answers from its port.
        let sip = Server {
            rip: 5,
            rport: 5060,
            ops: Some((100, 5060, DestId(6), ConnOut::Conn)),
        };
        let m = OpsReplies::build([sip]);
        assert!(matches!(
            m.find(5, 5060),
            Some(OpsReply::From {
                conn_out: ConnOut::Conn,
                ..
            })
        ));
        let m = OpsReplies::build([sip, plain(5, 5060)]);
        assert_eq!(m.find(5, 5060), Some(OpsReply::Ambiguous));
    }
}
