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

use crate::config::DestId;
use hashbrown::HashMap;
use std::hash::Hash;

/// Where a reply from a real server of a one-packet-scheduling NAT service
/// leaves from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpsReply<A> {
    /// From the VIP and port (0: a port-0 service, whose replies keep their
    /// source port, the port the client sent to), counted on real server
    /// `dest`.
    From { vip: A, vport: u16, dest: DestId },
    /// The real server's address and port serve several such services.
    Ambiguous,
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
    /// Real server `dest` at `rip`, whose replies come from `rport` (0: any
    /// port), answers for `vip:vport`. A second service for the same address
    /// and port makes it [`OpsReply::Ambiguous`].
    pub fn insert(&mut self, rip: A, rport: u16, vip: A, vport: u16, dest: DestId) {
        let new = OpsReply::From { vip, vport, dest };
        self.map
            .entry((rip, rport))
            .and_modify(|r| {
                if *r != new {
                    *r = OpsReply::Ambiguous;
                }
            })
            .or_insert(new);
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

    #[test]
    fn one_service_per_server_port_and_port_zero_as_fallback() {
        let mut m = OpsReplies::default();
        assert_eq!(m.find(1u32, 53), None);
        m.insert(1u32, 53, 100, 53, DestId(1));
        m.insert(2, 0, 100, 0, DestId(2));
        let from = |vip, vport, d| OpsReply::From {
            vip,
            vport,
            dest: DestId(d),
        };
        assert_eq!(m.find(1, 53), Some(from(100, 53, 1)));
        assert_eq!(m.find(1, 54), None);
        assert_eq!(m.find(2, 5353), Some(from(100, 0, 2)));
        // The same server port behind a second VIP: no telling which.
        m.insert(1, 53, 101, 53, DestId(3));
        assert_eq!(m.find(1, 53), Some(OpsReply::Ambiguous));
        // An exact port wins over the address's port-0 service.
        m.insert(2, 53, 102, 53, DestId(4));
        assert_eq!(m.find(2, 53), Some(from(102, 53, 4)));
    }
}
