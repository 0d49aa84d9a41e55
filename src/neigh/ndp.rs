//! IPv6 neighbor discovery (RFC 4861) mapped onto the table's rules, and
//! where a neighbor solicitation goes.
//!
//! RFC 4861 lets advertisements rewrite the cache: §7.2.5 replaces a cached
//! link-layer address with an advertisement's when its override flag (O) is
//! set, and takes an unsolicited advertisement for an incomplete entry; §7.2.3
//! replaces it with a solicitation's source link-layer address. Either would
//! let any host on the link steal a neighbor's traffic with one forged frame,
//! which is what the ARP rules of this module refuse. So IPv6 follows them:
//!
//! * Only a *solicited* advertisement (S set) carrying the target link-layer
//!   option resolves an entry we are resolving (incomplete, or failed less
//!   than [`super::FAILED_KEEP`] ago): the counterpart of an ARP reply. An
//!   unsolicited one (S clear) for an entry being resolved is ignored (RFC
//!   4861 would create it STALE); the solicited answer follows within a second.
//! * A solicitation addressed to us, with its source link-layer option, from
//!   a neighbor we are resolving (or failed to) makes its entry stale at that
//!   MAC, published (§7.2.3; Linux's `ndisc_recv_ns` → `ndisc_update` with
//!   `NUD_STALE`), as
//!   an ARP request to us does: a host back from a reboot that asks for us
//!   is reached at once.
//! * Nothing creates an entry for an address we did not ask for: neither an
//!   advertisement (solicited or not) nor a solicitation.
//! * An advertisement or solicitation from the entry's own MAC refreshes it,
//!   as any ARP from it does (RFC 4861 would leave the state of an entry
//!   unchanged on an unsolicited one: the refresh moves no traffic, so it is
//!   kept the same as IPv4's).
//! * An advertisement with O set, or a solicitation addressed to us, from
//!   another MAC is a claim: the entry goes to verifying, its old MAC keeps
//!   the traffic and is asked by unicast solicitation, and the claimant is
//!   adopted only if the old MAC stays silent ([`super::MOVE_PROBES`] ×
//!   [`super::MOVE_RETRANS`]). A forged advertisement (S and O set) is no
//!   different: S counts only for an entry we are resolving.
//! * An advertisement with O clear from another MAC is ignored, as RFC 4861
//!   §7.2.5 ignores it (it is how proxies and anycast answer): no probe.
//! * An advertisement without the target link-layer option names no new
//!   MAC: RFC 4861 §7.2.5 takes it as confirming the cached one. We take its
//!   Ethernet source as the MAC, so that it refreshes (or refutes a claim
//!   for) only the MAC it came from. This matters because Linux answers a
//!   unicast solicitation without the option and with O clear
//!   (`net/ipv6/ndisc.c`, `ndisc_recv_ns`: the option and O only for a
//!   multicast solicitation), and our refresh and verification probes are
//!   unicast. Without the option it never resolves nor claims.
//! * Router advertisements and redirects are never reported by the workers
//!   and never learned: the IPv6 next hop off-link is the configured gateway,
//!   not one a router announces (the data plane drops RAs with a counter).
//!
//! The timers are IPv4's ([`super::RETRANS`], [`super::MAX_PROBES`],
//! [`super::REACHABLE`]): one set of rules and one set of tests for both
//! families. The reachable time is drawn as RFC 4861 §10 draws
//! REACHABLE_TIME (at random, 15 to 45 s: [`super::rand_reach`]), each
//! family's on its own, as Linux's ARP and ND tables draw theirs.

use super::table::Claim;
use crate::wire::Mac;
use std::net::Ipv6Addr;

/// Whether `ip` can be a neighbor at all: not the unspecified address (the
/// source of duplicate address detection), loopback nor multicast.
pub(super) fn is_neighbor(ip: Ipv6Addr) -> bool {
    !(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast())
}

/// A solicitation addressed to us from a neighbor, with its source
/// link-layer address: it names the MAC of an entry being resolved (or
/// failed), which goes stale at it as RFC 4861 §7.2.3 and Linux's
/// `ndisc_recv_ns` make it, and from another MAC it claims a known one.
pub(super) const SOLICITATION: Claim = Claim {
    answer: false,
    may_move: true,
    request: true,
};

/// The MAC an advertisement vouches for (its target link-layer option, or
/// its Ethernet source `src` without one) and what it may do.
pub(super) fn advertisement(
    tlla: Option<Mac>,
    src: Mac,
    solicited: bool,
    overrides: bool,
) -> (Mac, Claim) {
    let claim = Claim {
        answer: solicited && tlla.is_some(),
        may_move: overrides && tlla.is_some(),
        request: false,
    };
    (tlla.unwrap_or(src), claim)
}

// The solicited-node group of an address and a group's Ethernet address
// are `wire::ipv6`'s (RFC 4291 §2.7.1, RFC 2464 §7).
pub use crate::wire::ipv6::{multicast_mac, solicited_node};

/// Where a solicitation for `target` goes (IPv6 destination, Ethernet
/// destination): to `to` and the target itself when re-probing a known MAC,
/// to the target's solicited-node group otherwise (RFC 4861 §7.2.2).
pub fn solicitation_dest(target: Ipv6Addr, to: Option<Mac>) -> (Ipv6Addr, Mac) {
    match to {
        Some(mac) => (target, mac),
        None => {
            let group = solicited_node(target);
            (group, multicast_mac(group))
        }
    }
}

/// The address unsolicited advertisements go to (RFC 4861 §7.2.6): all
/// nodes, ff02::1.
pub use crate::wire::ipv6::ALL_NODES;

/// IPv6's own cases; the rules shared with IPv4 are tested for both families
/// in `table.rs`.
#[cfg(test)]
mod test {
    use super::super::{EntryState, MOVE_PROBES, MOVE_RETRANS, NeighEvent, NeighTable, Probe};
    use super::*;
    use crate::Nic;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    const RS: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 2);
    const MAC: Mac = Mac([2, 0, 0, 0, 0, 2]);
    const BOGUS: Mac = Mac([2, 0xde, 0xad, 0xbe, 0xef, 1]);

    /// An advertisement for `ip` from `mac`, carrying it in the option.
    fn na(ip: Ipv6Addr, mac: Mac, solicited: bool, overrides: bool) -> NeighEvent {
        NeighEvent::HeardNa {
            nic: Nic::Int,
            ip,
            tlla: Some(mac),
            src: mac,
            solicited,
            overrides,
        }
    }

    /// How Linux answers a unicast solicitation: S set, O clear, no option.
    fn linux_unicast_answer(src: Mac) -> NeighEvent {
        NeighEvent::HeardNa {
            nic: Nic::Int,
            ip: RS,
            tlla: None,
            src,
            solicited: true,
            overrides: false,
        }
    }

    fn ns(ip: Ipv6Addr, mac: Mac) -> NeighEvent {
        NeighEvent::HeardNs {
            nic: Nic::Int,
            ip,
            mac,
        }
    }

    fn probe(to: Option<Mac>) -> Probe {
        Probe::Ns {
            nic: Nic::Int,
            ip: RS,
            to,
        }
    }

    fn resolved(t0: Instant) -> NeighTable {
        let mut t = NeighTable::new();
        assert_eq!(
            t.event(
                NeighEvent::Resolve6 {
                    nic: Nic::Int,
                    ip: RS
                },
                t0
            ),
            Some(probe(None))
        );
        assert_eq!(t.event(na(RS, MAC, true, true), t0), None);
        assert!(t.take_snapshot().is_some());
        t
    }

    fn published(t: &NeighTable) -> Option<Mac> {
        match t.state(Nic::Int, RS) {
            Some(EntryState::Reachable { mac, .. } | EntryState::Verifying { mac, .. }) => {
                Some(mac)
            }
            _ => None,
        }
    }

    /// Every 50 ms for `ms`: the probes asked for, and whether the snapshot
    /// changed.
    fn run(t: &mut NeighTable, from: Instant, ms: u64) -> (Vec<Probe>, Option<u64>) {
        let mut p = Vec::new();
        let mut changed = None;
        for at in (0..=ms).step_by(50) {
            t.tick(from + Duration::from_millis(at), &mut p);
            if t.take_snapshot().is_some() && changed.is_none() {
                changed = Some(at);
            }
        }
        (p, changed)
    }

    /// RFC 4861 would replace the cached MAC on an unsolicited advertisement
    /// with O set; here it only makes us ask the old MAC, and the owner's
    /// answer (Linux's: no option, O clear) keeps it.
    #[test]
    fn an_unsolicited_na_with_override_does_not_steal_a_reachable_entry() {
        let t0 = Instant::now();
        let mut t = resolved(t0);
        // Unsolicited, and forged as solicited: the same.
        for (k, solicited) in [false, true].into_iter().enumerate() {
            let at = t0 + Duration::from_secs(k as u64);
            assert_eq!(
                t.event(na(RS, BOGUS, solicited, true), at),
                Some(probe(Some(MAC))),
                "solicited {solicited}"
            );
            assert!(matches!(
                t.state(Nic::Int, RS),
                Some(EntryState::Verifying { mac, claimed, .. }) if mac == MAC && claimed == BOGUS
            ));
            assert!(t.take_snapshot().is_none());
            assert_eq!(t.event(linux_unicast_answer(MAC), at), None);
            assert!(matches!(
                t.state(Nic::Int, RS),
                Some(EntryState::Reachable { mac, .. }) if mac == MAC
            ));
        }
        let (p, changed) = run(&mut t, t0 + Duration::from_secs(2), 3000);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(changed, None);
        assert_eq!((t.refuted, t.moved), (2, 0));
        assert_eq!(published(&t), Some(MAC));
    }

    /// A solicited advertisement with the option resolves a pending entry;
    /// an unsolicited one, or one without the option, does not.
    #[test]
    fn a_solicited_na_resolves_a_pending_entry() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        let first = t.event(
            NeighEvent::Resolve6 {
                nic: Nic::Int,
                ip: RS,
            },
            t0,
        );
        assert_eq!(first, Some(probe(None)), "multicast solicitation");
        let pending =
            |t: &NeighTable| matches!(t.state(Nic::Int, RS), Some(EntryState::Incomplete { .. }));
        for ev in [na(RS, MAC, false, true), linux_unicast_answer(MAC)] {
            assert_eq!(t.event(ev, t0), None, "{ev:?}");
            assert!(pending(&t), "{ev:?}");
            assert!(t.take_snapshot().is_none(), "{ev:?}");
        }
        // The answer, with or without O (RFC 4861: O does not matter then).
        assert_eq!(t.event(na(RS, MAC, true, false), t0), None);
        let snap = t.take_snapshot().expect("resolved");
        assert_eq!(snap.get(Nic::Int, RS), Some(MAC));
        assert_eq!(snap.get(Nic::Ext, RS), None);
    }

    /// No advertisement creates an entry we did not ask for, nor resolves
    /// another address than the one we asked for.
    #[test]
    fn an_na_for_an_address_we_did_not_ask_for_learns_nothing() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        let asked = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 9);
        t.event(
            NeighEvent::Resolve6 {
                nic: Nic::Int,
                ip: asked,
            },
            t0,
        );
        for s in [false, true] {
            for o in [false, true] {
                assert_eq!(t.event(na(RS, MAC, s, o), t0), None);
            }
        }
        assert_eq!(t.event(linux_unicast_answer(MAC), t0), None);
        // An answer for `asked` heard on the other NIC resolves nothing:
        // entries are per NIC.
        let mut ext = na(asked, MAC, true, true);
        if let NeighEvent::HeardNa { nic, .. } = &mut ext {
            *nic = Nic::Ext;
        }
        assert_eq!(t.event(ext, t0), None);
        assert_eq!(t.state(Nic::Int, RS), None);
        assert_eq!(t.state(Nic::Ext, asked), None);
        assert!(matches!(
            t.state(Nic::Int, asked),
            Some(EntryState::Incomplete { .. })
        ));
        assert!(t.take_snapshot().is_none());
    }

    /// A solicitation addressed to us refreshes a neighbor from its own MAC,
    /// claims it from another (verification), and creates nothing.
    #[test]
    fn a_ns_from_a_known_neighbor_with_another_mac_starts_verification() {
        let t0 = Instant::now();
        let mut t = resolved(t0);
        let later = t0 + Duration::from_secs(30);
        assert_eq!(t.event(ns(RS, MAC), later), None);
        assert!(matches!(
            t.state(Nic::Int, RS),
            Some(EntryState::Reachable { mac, until, .. }) if mac == MAC && until == later + super::super::REACHABLE
        ));
        assert_eq!(t.event(ns(RS, BOGUS), later), Some(probe(Some(MAC))));
        assert!(matches!(
            t.state(Nic::Int, RS),
            Some(EntryState::Verifying { mac, claimed, probes: 1, .. }) if mac == MAC && claimed == BOGUS
        ));
        assert_eq!(published(&t), Some(MAC));
        assert!(t.take_snapshot().is_none());
        // From an unknown neighbor: nothing.
        let stranger = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 7);
        assert_eq!(t.event(ns(stranger, BOGUS), later), None);
        assert_eq!(t.state(Nic::Int, stranger), None);
    }

    /// An advertisement from another MAC without O (a proxy's, an anycast
    /// answer), or without the option (it names no MAC), claims nothing: no
    /// probe, no verification (RFC 4861 §7.2.5 ignores it too).
    #[test]
    fn an_na_without_override_or_option_from_another_mac_is_ignored() {
        let t0 = Instant::now();
        let mut t = resolved(t0);
        let mut no_option = linux_unicast_answer(BOGUS);
        if let NeighEvent::HeardNa { overrides, .. } = &mut no_option {
            *overrides = true;
        }
        for ev in [
            na(RS, BOGUS, true, false),
            na(RS, BOGUS, false, false),
            linux_unicast_answer(BOGUS),
            no_option,
        ] {
            assert_eq!(t.event(ev, t0), None, "{ev:?}");
            assert!(matches!(
                t.state(Nic::Int, RS),
                Some(EntryState::Reachable { mac, .. }) if mac == MAC
            ));
        }
        assert!(t.take_snapshot().is_none());
    }

    /// The owner fails over to another MAC and announces it; the old MAC stays
    /// silent to the unicast solicitations: the claimant is adopted
    /// MOVE_PROBES × MOVE_RETRANS after the claim, not before.
    #[test]
    fn failover_adopts_the_claimant_when_the_old_mac_is_silent() {
        let t0 = Instant::now();
        let mut t = resolved(t0);
        let claim = t0 + Duration::from_secs(10);
        let mut p: Vec<Probe> = t
            .event(na(RS, BOGUS, false, true), claim)
            .into_iter()
            .collect();
        let (more, changed) = run(&mut t, claim, 2000);
        p.extend(more);
        let at = Duration::from_millis(changed.expect("adopted"));
        assert_eq!(at, MOVE_RETRANS * u32::from(MOVE_PROBES));
        assert_eq!(p, vec![probe(Some(MAC)); usize::from(MOVE_PROBES)]);
        assert_eq!(published(&t), Some(BOGUS));
        assert_eq!(t.moved, 1);
    }

    /// The unspecified address (duplicate address detection), loopback and
    /// multicast are never neighbors: not resolved, not learned.
    #[test]
    fn addresses_that_are_not_neighbors_are_refused() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        for ip in [
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::LOCALHOST,
            ALL_NODES,
            solicited_node(RS),
        ] {
            assert_eq!(
                t.event(NeighEvent::Resolve6 { nic: Nic::Int, ip }, t0),
                None,
                "{ip}"
            );
            assert_eq!(t.event(ns(ip, MAC), t0), None, "{ip}");
            assert_eq!(t.event(na(ip, MAC, true, true), t0), None, "{ip}");
            assert_eq!(t.state(Nic::Int, ip), None, "{ip}");
        }
        assert_eq!(t.entries().count(), 0);
    }

    /// One table and one snapshot hold both families; each family's probes
    /// are its own.
    #[test]
    fn both_families_live_side_by_side() {
        let t0 = Instant::now();
        let v4 = u32::from_be_bytes([198, 19, 0, 2]);
        let mut t = NeighTable::new();
        t.learn(Nic::Int, v4, Mac([2, 0, 0, 0, 0, 4]), t0);
        t.learn(Nic::Int, RS, MAC, t0);
        let snap = t.take_snapshot().expect("learned");
        assert_eq!(snap.len(), 2);
        assert_eq!(snap.get(Nic::Int, v4), Some(Mac([2, 0, 0, 0, 0, 4])));
        assert_eq!(snap.get(Nic::Int, RS), Some(MAC));
        let mut listed: Vec<IpAddr> = t.entries().map(|(_, ip, _)| ip).collect();
        listed.sort();
        assert_eq!(listed, [IpAddr::V4(Ipv4Addr::from(v4)), IpAddr::V6(RS)]);
        // Both in use when their refresh is due: both probed.
        let reach = t
            .reachable_time::<u32>()
            .max(t.reachable_time::<Ipv6Addr>());
        let (mut p, used, at) = (Vec::new(), super::super::Used::default(), t0 + reach);
        used.mark(Nic::Int, v4);
        used.mark(Nic::Int, RS);
        t.note_use(&used, at);
        t.tick(at, &mut p);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.contains(&Probe::Arp {
            nic: Nic::Int,
            ip: v4,
            to: Some(Mac([2, 0, 0, 0, 0, 4]))
        }));
        assert!(p.contains(&probe(Some(MAC))));
    }

    #[test]
    fn solicitations_go_to_the_solicited_node_group_or_unicast() {
        let target = Ipv6Addr::new(0x2001, 2, 0, 2, 0x1234, 0x5678, 0x9abc, 0xdef0);
        let group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xffbc, 0xdef0);
        assert_eq!(solicited_node(target), group);
        assert_eq!(
            solicited_node(RS),
            "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap()
        );
        let gmac = Mac([0x33, 0x33, 0xff, 0xbc, 0xde, 0xf0]);
        assert_eq!(solicitation_dest(target, None), (group, gmac));
        assert!(gmac.is_multicast());
        assert_eq!(solicitation_dest(target, Some(MAC)), (target, MAC));
        assert_eq!(multicast_mac(ALL_NODES), Mac([0x33, 0x33, 0, 0, 0, 1]));
    }
}
