//! Neighbors: who is on-link, and their MAC addresses.
//!
//! The control thread owns the [`NeighTable`] (pure: it is told the time and returns
//! the ARP requests to send) and publishes an immutable [`NeighSnapshot`] that the
//! workers read without locks. Workers ask for a missing neighbor and report the ARP
//! they hear over a channel ([`NeighEvent`]).
//!
//! Only what we asked for is learned: an ARP reply for an address we are not
//! resolving is ignored, so unsolicited ARP cannot poison the table. A request
//! addressed to one of our own addresses refreshes the sender only if we already
//! know it (RFC 826's "merge" rule), and creates nothing.
//!
//! A known neighbor's address claimed from another MAC (a reply, a request to us,
//! or gratuitous ARP) is a move or a forgery. The entry is not overwritten: it
//! goes to [`EntryState::Verifying`], where the old MAC keeps getting the traffic
//! and is asked, by unicast, whether it still owns the address ([`MOVE_PROBES`]
//! probes, [`MOVE_RETRANS`] apart). If the old MAC answers, the claim is ignored;
//! if it stays silent, the last claimant is adopted, [`MOVE_PROBES`] ×
//! [`MOVE_RETRANS`] after the claim. A host that fails over without a virtual MAC
//! (VRRP, a moved VM) is relearned within a second instead of 60 s, and a forger
//! wins only against an owner that does not answer ARP.

use crate::Nic;
use crate::wire::Mac;
use hashbrown::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// How long a resolved neighbor is trusted without a fresh ARP reply.
pub const REACHABLE: Duration = Duration::from_secs(60);
/// When a reachable entry is re-probed (unicast) before it runs out.
pub const REFRESH_AFTER: Duration = Duration::from_secs(45);
/// Between two ARP requests for an unresolved neighbor.
pub const RETRANS: Duration = Duration::from_secs(1);
/// ARP requests sent before a neighbor is declared unreachable.
pub const MAX_PROBES: u8 = 3;
/// How long an unreachable neighbor is not asked for again.
pub const FAILED_HOLD: Duration = Duration::from_secs(5);
/// Unicast probes of the old MAC when a known neighbor's address is claimed from
/// another MAC, and the time between them: the claimant is adopted
/// `MOVE_PROBES * MOVE_RETRANS` (750 ms) after the claim if none is answered.
pub const MOVE_PROBES: u8 = 3;
pub const MOVE_RETRANS: Duration = Duration::from_millis(250);

/// An IPv4 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Prefix {
    pub fn contains(&self, ip: u32) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len.min(32)))
        };
        (ip & mask) == (u32::from(self.addr) & mask)
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("{s}: expected ADDRESS/PREFIX, e.g. 198.18.0.2/24"))?;
        let addr = a
            .parse()
            .map_err(|_| format!("{s}: {a} is not an IPv4 address"))?;
        let len = l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("{s}: prefix length must be 0..32"))?;
        Ok(Self { addr, len })
    }
}

/// Where a packet to `dst` goes next on a NIC: `dst` itself when on-link, the
/// gateway otherwise; `None` when there is no way.
pub fn next_hop(net: &Prefix, gateway: Option<Ipv4Addr>, dst: u32) -> Option<u32> {
    if net.contains(dst) {
        Some(dst)
    } else {
        gateway.map(u32::from)
    }
}

/// What the workers read: resolved neighbors per NIC.
#[derive(Clone, Debug, Default)]
pub struct NeighSnapshot {
    maps: [HashMap<u32, Mac>; 2],
}

impl NeighSnapshot {
    #[inline]
    pub fn get(&self, nic: Nic, ip: u32) -> Option<Mac> {
        self.maps[nic as usize].get(&ip).copied()
    }

    pub fn len(&self) -> usize {
        self.maps.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a worker tells the control thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighEvent {
    /// Please resolve `ip` on `nic`.
    Resolve { nic: Nic, ip: u32 },
    /// Heard ARP from `ip` at `mac` on `nic`: a reply to us, or a request for one of
    /// our addresses.
    Heard {
        nic: Nic,
        ip: u32,
        mac: Mac,
        reply: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryState {
    Incomplete {
        probes: u8,
        next: Instant,
    },
    Reachable {
        mac: Mac,
        until: Instant,
        probed: bool,
    },
    Failed {
        until: Instant,
    },
    /// `mac` (still published) is being asked whether it owns the address,
    /// which `claimed` says it has now.
    Verifying {
        mac: Mac,
        claimed: Mac,
        probes: u8,
        next: Instant,
    },
}

/// An ARP request the control thread must send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub nic: Nic,
    pub ip: u32,
    /// Unicast to this MAC (refresh), or broadcast when `None`.
    pub to: Option<Mac>,
}

/// The neighbor table, owned by the control thread.
#[derive(Debug, Default)]
pub struct NeighTable {
    entries: HashMap<(Nic, u32), EntryState>,
    /// The published view is stale.
    dirty: bool,
    /// Neighbors whose MAC changed after their old MAC stayed silent.
    pub moved: u64,
    /// Claims from another MAC that the old MAC refuted by answering.
    pub refuted: u64,
}

impl NeighTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Handle a worker's event at `now`; returns a probe to send right away, if any.
    pub fn event(&mut self, ev: NeighEvent, now: Instant) -> Option<Probe> {
        match ev {
            NeighEvent::Resolve { nic, ip } => match self.entries.get(&(nic, ip)) {
                None => {
                    self.entries.insert(
                        (nic, ip),
                        EntryState::Incomplete {
                            probes: 1,
                            next: now + RETRANS,
                        },
                    );
                    Some(Probe { nic, ip, to: None })
                }
                Some(EntryState::Failed { until }) if *until <= now => {
                    self.entries.remove(&(nic, ip));
                    self.event(ev, now)
                }
                _ => None,
            },
            NeighEvent::Heard {
                nic,
                ip,
                mac,
                reply,
            } => {
                if mac.is_multicast() {
                    return None;
                }
                let key = (nic, ip);
                let learned = EntryState::Reachable {
                    mac,
                    until: now + REACHABLE,
                    probed: false,
                };
                match self.entries.get(&key).copied() {
                    Some(EntryState::Incomplete { .. } | EntryState::Failed { .. }) if reply => {
                        self.entries.insert(key, learned);
                        self.dirty = true;
                        None
                    }
                    // Its own MAC refreshes a known neighbor (and refutes a claim).
                    Some(EntryState::Reachable { mac: m, .. }) if m == mac => {
                        self.entries.insert(key, learned);
                        None
                    }
                    Some(EntryState::Verifying { mac: m, .. }) if m == mac => {
                        self.refuted += 1;
                        self.entries.insert(key, learned);
                        None
                    }
                    // Another MAC claims a known neighbor's address: ask the old
                    // MAC (unicast) before believing it; it keeps the traffic.
                    Some(EntryState::Reachable { mac: old, .. }) => {
                        self.entries.insert(
                            key,
                            EntryState::Verifying {
                                mac: old,
                                claimed: mac,
                                probes: 1,
                                next: now + MOVE_RETRANS,
                            },
                        );
                        Some(Probe {
                            nic,
                            ip,
                            to: Some(old),
                        })
                    }
                    Some(EntryState::Verifying {
                        mac: old,
                        probes,
                        next,
                        ..
                    }) => {
                        // The latest claimant is the one adopted if the old MAC
                        // stays silent.
                        self.entries.insert(
                            key,
                            EntryState::Verifying {
                                mac: old,
                                claimed: mac,
                                probes,
                                next,
                            },
                        );
                        None
                    }
                    // Unsolicited ARP for an unknown (or unresolved) address.
                    _ => None,
                }
            }
        }
    }

    /// Advance time: retransmit, refresh, and expire. Returns the probes to send.
    pub fn tick(&mut self, now: Instant, probes: &mut Vec<Probe>) {
        let mut dirty = false;
        let mut moved = 0;
        self.entries.retain(|&(nic, ip), e| match *e {
            EntryState::Incomplete { probes: n, next } if next <= now => {
                if n >= MAX_PROBES {
                    *e = EntryState::Failed {
                        until: now + FAILED_HOLD,
                    };
                } else {
                    probes.push(Probe { nic, ip, to: None });
                    *e = EntryState::Incomplete {
                        probes: n + 1,
                        next: now + RETRANS,
                    };
                }
                true
            }
            EntryState::Reachable { until, .. } if until <= now => {
                dirty = true;
                false
            }
            EntryState::Reachable { mac, until, probed }
                if !probed && until <= now + (REACHABLE - REFRESH_AFTER) =>
            {
                probes.push(Probe {
                    nic,
                    ip,
                    to: Some(mac),
                });
                *e = EntryState::Reachable {
                    mac,
                    until,
                    probed: true,
                };
                true
            }
            EntryState::Verifying {
                mac,
                claimed,
                probes: n,
                next,
            } if next <= now => {
                if n >= MOVE_PROBES {
                    // The old MAC stayed silent: the neighbor moved.
                    *e = EntryState::Reachable {
                        mac: claimed,
                        until: now + REACHABLE,
                        probed: false,
                    };
                    moved += 1;
                    dirty = true;
                } else {
                    probes.push(Probe {
                        nic,
                        ip,
                        to: Some(mac),
                    });
                    // From the deadline, not from `now`: the switch comes
                    // MOVE_PROBES * MOVE_RETRANS after the claim plus at most one
                    // tick, however late the ticks.
                    *e = EntryState::Verifying {
                        mac,
                        claimed,
                        probes: n + 1,
                        next: (next + MOVE_RETRANS).max(now),
                    };
                }
                true
            }
            EntryState::Failed { until } => until > now,
            _ => true,
        });
        self.moved += moved;
        self.dirty |= dirty;
    }

    /// A table that resolved `hosts` (NIC, address, MAC) at `now` as the
    /// control thread does (a probe, then its reply): the neighbors of
    /// benchmarks and test fixtures, learned through the real state machine.
    pub fn learned(hosts: impl IntoIterator<Item = (Nic, Ipv4Addr, Mac)>, now: Instant) -> Self {
        let mut t = Self::new();
        for (nic, ip, mac) in hosts {
            let ip = u32::from(ip);
            t.event(NeighEvent::Resolve { nic, ip }, now);
            let heard = NeighEvent::Heard {
                nic,
                ip,
                mac,
                reply: true,
            };
            t.event(heard, now);
        }
        t
    }

    /// A new snapshot if anything a worker can see changed since the last call.
    pub fn take_snapshot(&mut self) -> Option<NeighSnapshot> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        let mut snap = NeighSnapshot::default();
        for (&(nic, ip), e) in &self.entries {
            if let EntryState::Reachable { mac, .. } | EntryState::Verifying { mac, .. } = e {
                snap.maps[nic as usize].insert(ip, *mac);
            }
        }
        Some(snap)
    }

    pub fn state(&self, nic: Nic, ip: u32) -> Option<EntryState> {
        self.entries.get(&(nic, ip)).copied()
    }

    /// Every entry, for listings.
    pub fn entries(&self) -> impl Iterator<Item = (Nic, Ipv4Addr, EntryState)> + '_ {
        self.entries
            .iter()
            .map(|(&(nic, ip), &e)| (nic, Ipv4Addr::from(ip), e))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const RS: u32 = u32::from_be_bytes([198, 19, 0, 2]);
    const MAC: Mac = Mac([2, 0, 0, 0, 0, 2]);

    fn heard(ip: u32, mac: Mac, reply: bool) -> NeighEvent {
        NeighEvent::Heard {
            nic: Nic::Int,
            ip,
            mac,
            reply,
        }
    }

    #[test]
    fn resolve_retries_then_fails_then_may_retry() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        let ev = NeighEvent::Resolve {
            nic: Nic::Int,
            ip: RS,
        };
        assert_eq!(
            t.event(ev, t0),
            Some(Probe {
                nic: Nic::Int,
                ip: RS,
                to: None
            })
        );
        assert_eq!(t.event(ev, t0), None, "one outstanding request");
        let mut p = vec![];
        for s in 1..=3 {
            t.tick(t0 + RETRANS * s, &mut p);
        }
        assert_eq!(p.len(), 2, "probes 2 and 3");
        assert!(matches!(
            t.state(Nic::Int, RS),
            Some(EntryState::Failed { .. })
        ));
        assert_eq!(t.event(ev, t0 + RETRANS * 3), None, "held while failed");
        assert!(t.event(ev, t0 + RETRANS * 3 + FAILED_HOLD).is_some());
    }

    #[test]
    fn reply_resolves_and_publishes() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        t.event(
            NeighEvent::Resolve {
                nic: Nic::Int,
                ip: RS,
            },
            t0,
        );
        assert!(t.take_snapshot().is_none());
        t.event(heard(RS, MAC, true), t0);
        let snap = t.take_snapshot().expect("changed");
        assert_eq!(snap.get(Nic::Int, RS), Some(MAC));
        assert_eq!(snap.get(Nic::Ext, RS), None);
        assert!(t.take_snapshot().is_none());
    }

    #[test]
    fn unsolicited_arp_is_not_learned() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        t.event(heard(RS, MAC, true), t0);
        t.event(heard(RS, MAC, false), t0);
        assert!(t.take_snapshot().is_none());
        assert_eq!(t.state(Nic::Int, RS), None);
    }

    #[test]
    fn reachable_is_refreshed_then_expires() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        t.event(
            NeighEvent::Resolve {
                nic: Nic::Int,
                ip: RS,
            },
            t0,
        );
        t.event(heard(RS, MAC, true), t0);
        t.take_snapshot();
        let mut p = vec![];
        t.tick(t0 + REFRESH_AFTER, &mut p);
        assert_eq!(
            p,
            [Probe {
                nic: Nic::Int,
                ip: RS,
                to: Some(MAC)
            }]
        );
        t.tick(t0 + REACHABLE, &mut p);
        let snap = t.take_snapshot().expect("expired");
        assert!(snap.is_empty());
    }

    #[test]
    fn next_hop_on_link_or_gateway() {
        let net: Prefix = "198.18.0.2/24".parse().unwrap();
        let c = u32::from_be_bytes([198, 18, 0, 1]);
        let far = u32::from_be_bytes([198, 18, 9, 1]);
        let gw = Ipv4Addr::new(198, 18, 0, 254);
        assert_eq!(next_hop(&net, Some(gw), c), Some(c));
        assert_eq!(next_hop(&net, Some(gw), far), Some(u32::from(gw)));
        assert_eq!(next_hop(&net, None, far), None);
        assert!("1.2.3.4".parse::<Prefix>().is_err());
        assert!("1.2.3.4/33".parse::<Prefix>().is_err());
    }

    fn resolved(t0: Instant) -> NeighTable {
        let mut t = NeighTable::new();
        t.event(
            NeighEvent::Resolve {
                nic: Nic::Int,
                ip: RS,
            },
            t0,
        );
        t.event(heard(RS, MAC, true), t0);
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

    const BOGUS: Mac = Mac([2, 0xde, 0xad, 0xbe, 0xef, 1]);
    const OLD_PROBE: Probe = Probe {
        nic: Nic::Int,
        ip: RS,
        to: Some(MAC),
    };

    /// ARP from another MAC for a known neighbor (solicited-looking or not) does
    /// not replace its entry while its own MAC answers the unicast probe that the
    /// claim triggers; ARP from its own MAC refreshes it.
    #[test]
    fn a_reachable_entry_is_not_poisoned_by_another_mac() {
        let t0 = Instant::now();
        let mut t = resolved(t0);
        for reply in [true, false] {
            assert_eq!(
                t.event(heard(RS, BOGUS, reply), t0),
                Some(OLD_PROBE),
                "the claim makes us ask the old MAC (reply {reply})"
            );
            assert!(t.take_snapshot().is_none(), "entry changed (reply {reply})");
            assert_eq!(published(&t), Some(MAC));
            // The owner answers the probe: the claim is refuted.
            t.event(heard(RS, MAC, true), t0 + Duration::from_millis(1));
            assert!(matches!(
                t.state(Nic::Int, RS),
                Some(EntryState::Reachable { mac, .. }) if mac == MAC
            ));
        }
        assert_eq!((t.refuted, t.moved), (2, 0));
        // Time passes well beyond the probes: nothing switches.
        let mut p = vec![];
        for ms in (0..3000).step_by(100) {
            t.tick(t0 + Duration::from_millis(ms), &mut p);
        }
        assert!(p.is_empty(), "{p:?}");
        assert!(t.take_snapshot().is_none());
        let later = t0 + Duration::from_secs(5);
        t.event(heard(RS, MAC, true), later);
        assert!(
            matches!(t.state(Nic::Int, RS), Some(EntryState::Reachable { until, .. }) if until == later + REACHABLE)
        );
    }

    /// A forger that keeps claiming while the owner answers each probe never
    /// gets the entry; claims during a verification send no extra probe.
    #[test]
    fn repeated_claims_lose_to_an_owner_that_answers() {
        let t0 = Instant::now();
        let mut t = resolved(t0);
        let mut p = vec![];
        for ms in (0..5000u64).step_by(50) {
            let now = t0 + Duration::from_millis(ms);
            p.extend(t.event(heard(RS, BOGUS, false), now));
            t.tick(now, &mut p);
            if !p.is_empty() {
                assert!(p.iter().all(|x| *x == OLD_PROBE), "{p:?}");
                p.clear();
                t.event(heard(RS, MAC, true), now);
            }
            assert_eq!(published(&t), Some(MAC), "at {ms} ms");
        }
        assert_eq!(t.moved, 0);
        assert!(t.take_snapshot().is_none());
    }

    /// Gratuitous ARP from a new MAC while the old MAC is silent: unicast
    /// probes of the old MAC, then the new MAC is adopted and published within
    /// `MOVE_PROBES * MOVE_RETRANS` (+ one 100 ms control tick).
    #[test]
    fn a_silent_old_mac_is_replaced_by_the_claimant_within_a_second() {
        let t0 = Instant::now();
        let mut t = resolved(t0);
        let claim = t0 + Duration::from_secs(10);
        assert_eq!(t.event(heard(RS, BOGUS, false), claim), Some(OLD_PROBE));
        let mut p = vec![];
        let mut switched = None;
        for ms in (0..=2000u64).step_by(100) {
            let now = claim + Duration::from_millis(ms);
            t.tick(now, &mut p);
            if let Some(s) = t.take_snapshot() {
                assert_eq!(s.get(Nic::Int, RS), Some(BOGUS));
                switched = Some(ms);
                break;
            }
            assert_eq!(published(&t), Some(MAC));
        }
        assert_eq!(p, vec![OLD_PROBE; usize::from(MOVE_PROBES) - 1]);
        let ms = switched.expect("adopted");
        // 750 ms, seen at the next 100 ms tick.
        assert_eq!(ms, 800, "switched after {ms} ms");
        assert_eq!(t.moved, 1);
        assert!(matches!(
            t.state(Nic::Int, RS),
            Some(EntryState::Reachable { mac, until, .. }) if mac == BOGUS && until > claim + REACHABLE
        ));
        // The old MAC coming back later is now the claimant.
        assert_eq!(
            t.event(heard(RS, MAC, true), claim + Duration::from_secs(2)),
            Some(Probe {
                nic: Nic::Int,
                ip: RS,
                to: Some(BOGUS)
            })
        );
    }

    /// Multicast MACs never claim, and unknown addresses are not verified.
    #[test]
    fn claims_need_a_known_entry_and_a_unicast_mac() {
        let t0 = Instant::now();
        let mut t = resolved(t0);
        assert_eq!(t.event(heard(RS, Mac::BROADCAST, true), t0), None);
        assert_eq!(published(&t), Some(MAC));
        let other = RS + 1;
        assert_eq!(t.event(heard(other, BOGUS, false), t0), None);
        assert_eq!(t.state(Nic::Int, other), None);
    }
}
