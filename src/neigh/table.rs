//! One address family's neighbor entries and their rules, written once for
//! both families: resolution, ageing, refresh and the verification of moves
//! (the module documentation of `crate::neigh` gives the rules; `ndp.rs` maps
//! IPv6's messages onto them).

use super::{
    DELAY_FIRST_PROBE, FAILED_KEEP, FORCED_GC_AGE, FORCED_GC_EVERY, FORCED_GC_FULL, GC_STALETIME,
    GC_THRESH1, GC_THRESH2, GC_THRESH3, MAX_PROBES, MOVE_PROBES, MOVE_RETRANS, NeighAddr, Probe,
    REACHABLE, RETRANS,
};
use crate::Nic;
use crate::wire::Mac;
use hashbrown::HashMap;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryState {
    Incomplete {
        probes: u8,
        next: Instant,
    },
    Reachable {
        mac: Mac,
        until: Instant,
    },
    Failed {
        until: Instant,
    },
    /// Known at `mac`, but no traffic used it when its refresh was due: not
    /// probed, still published (Linux's `NUD_STALE`). Traffic using it
    /// starts its verification ([`EntryState::Delay`]); unused for
    /// [`GC_STALETIME`] it is collected (in a table of [`GC_THRESH1`]
    /// entries or more).
    Stale {
        mac: Mac,
        /// When it was last confirmed (heard from `mac`).
        confirmed: Instant,
    },
    /// Traffic used a stale entry: still published, and probed at `until`
    /// unless its MAC is heard first (`NUD_DELAY`).
    Delay {
        mac: Mac,
        until: Instant,
    },
    /// Being verified by unicast probes of `mac`, still published; removed
    /// if [`MAX_PROBES`] go unanswered (`NUD_PROBE`).
    Probe {
        mac: Mac,
        probes: u8,
        next: Instant,
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

/// What a message heard from a neighbor may do to its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Claim {
    /// It answers our probe (an ARP reply; a solicited NA with the target's
    /// link-layer address): it resolves an entry we are resolving. Nothing
    /// else does.
    pub answer: bool,
    /// From a MAC other than the entry's, it claims the address: the old MAC
    /// is verified. When false (an NA without the override flag, or without a
    /// link-layer address), another MAC is ignored.
    pub may_move: bool,
    /// The neighbor asked for one of our addresses (an ARP request, a
    /// solicitation with its source link-layer option): for an entry being
    /// resolved, or that failed, it names the neighbor's MAC, and the entry
    /// goes stale at it, published, as Linux makes it `NUD_STALE`
    /// (`arp_process` → `neigh_event_ns`; `ndisc_recv_ns` → `ndisc_update`).
    /// It creates no entry.
    pub request: bool,
}

impl Claim {
    /// Any ARP: a reply answers, a request (to us, or gratuitous) names the
    /// sender's MAC, and anything from another MAC is a claim.
    pub(super) fn arp(reply: bool) -> Self {
        Self {
            answer: reply,
            may_move: true,
            request: !reply,
        }
    }
}

/// The entries of one address family (`A`: `u32` for IPv4, `Ipv6Addr`).
#[derive(Debug)]
pub(super) struct Family<A> {
    entries: HashMap<(Nic, A), EntryState>,
    /// When traffic last used each entry (a worker asking for it, or a
    /// frame sent to it: [`Family::note_use`]); Linux's `neigh->used`.
    used: HashMap<(Nic, A), Instant>,
    /// The published view is stale.
    pub(super) dirty: bool,
    /// Neighbors whose MAC changed after their old MAC stayed silent.
    pub(super) moved: u64,
    /// Claims from another MAC that the old MAC refuted by answering.
    pub(super) refuted: u64,
    /// Asks for a new neighbor on the external NIC refused: the table was
    /// full ([`GC_THRESH3`]).
    pub(super) refused: u64,
    /// When the entries nobody needs were last forced out
    /// ([`Family::forced_gc`]); Linux's `last_flush`.
    last_flush: Option<Instant>,
    /// The family's reachable time: a confirmed entry's refresh is due this
    /// long after it was confirmed (Linux's `reachable_time`, drawn by the
    /// table, `NeighTable::tick`).
    pub(super) reach: Duration,
    /// The director is a standby: the probes the table asks for are not
    /// sent, so a verification counts none and waits (`NeighTable::set_standby`).
    pub(super) standby: bool,
}

impl<A> Default for Family<A> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            used: HashMap::new(),
            dirty: false,
            moved: 0,
            refuted: 0,
            refused: 0,
            last_flush: None,
            reach: super::BASE_REACHABLE,
            standby: false,
        }
    }
}

impl<A: NeighAddr> Family<A> {
    /// A worker asks for `ip` on `nic`: the first request starts resolving it
    /// (a broadcast or multicast probe), and so does one for an entry that
    /// failed, at once, as Linux's `__neigh_event_send` restarts a
    /// `NUD_FAILED` neighbour (`NUD_INCOMPLETE`, probed again). An entry
    /// being resolved is not asked for faster than its probes go
    /// ([`RETRANS`] apart), however many asks come.
    pub(super) fn resolve(&mut self, nic: Nic, ip: A, now: Instant) -> Option<Probe> {
        match self.entries.get(&(nic, ip)).copied() {
            Some(EntryState::Failed { .. }) => {
                self.entries.remove(&(nic, ip));
                self.resolve(nic, ip, now)
            }
            Some(_) => None,
            None if !self.room(now) && nic == Nic::Ext => {
                self.refused += 1;
                None
            }
            None => {
                if self.entries.len() >= GC_THRESH3 {
                    // A real server or gateway is never refused: it takes an
                    // external entry's place, or is made past the bound.
                    self.take_place(now);
                }
                self.used.insert((nic, ip), now);
                self.entries.insert(
                    (nic, ip),
                    EntryState::Incomplete {
                        probes: 1,
                        next: now + RETRANS,
                    },
                );
                Some(A::probe(nic, ip, None))
            }
        }
    }

    /// Whether a new entry may be made at `now`: a table of [`GC_THRESH2`]
    /// entries forces out those nobody needs first (every
    /// [`FORCED_GC_EVERY`]; every [`FORCED_GC_FULL`] once full), as Linux's
    /// `neigh_alloc` calls `neigh_forced_gc`, and one still of
    /// [`GC_THRESH3`] makes none on the external NIC (an internal one takes
    /// a place, [`Family::take_place`]).
    fn room(&mut self, now: Instant) -> bool {
        let n = self.entries.len();
        let every = if n >= GC_THRESH3 {
            FORCED_GC_FULL
        } else {
            FORCED_GC_EVERY
        };
        if n >= GC_THRESH2 && self.last_flush.is_none_or(|t| t + every <= now) {
            self.last_flush = Some(now);
            self.forced_gc(now);
        }
        self.entries.len() < GC_THRESH3
    }

    /// Forces out entries nobody needs, down to [`GC_THRESH2`]: failed ones
    /// first, then those neither used nor confirmed for [`FORCED_GC_AGE`],
    /// the longest unused first (Linux's `neigh_forced_gc` removes failed
    /// entries and those not updated for 5 s that nothing holds).
    fn forced_gc(&mut self, now: Instant) {
        let excess = self.entries.len().saturating_sub(GC_THRESH2);
        if excess == 0 {
            return;
        }
        let mut spare: Vec<_> = self.spare(now, FORCED_GC_AGE).collect();
        // Failed (`None`) first, then the longest unused.
        spare.sort_unstable_by_key(|&(t, _)| t);
        for (_, k) in spare.into_iter().take(excess) {
            self.force_out(k);
        }
    }

    /// An ask for a new neighbor on the internal NIC found the table full
    /// even once the entries unused for [`FORCED_GC_AGE`] were forced out:
    /// the entry nobody needs that was used or confirmed longest ago goes,
    /// whatever its age, so that spoofed clients on the external NIC never
    /// keep the director from re-learning a real server or its gateway. If
    /// none may go (the table is full of internal entries and entries being
    /// verified), the internal one is made past [`GC_THRESH3`]: the
    /// configuration, not the network, bounds the internal entries. A
    /// deliberate difference: Linux's `neigh_alloc` refuses any new
    /// neighbour past `gc_thresh3`, whose table both links share.
    fn take_place(&mut self, now: Instant) {
        let oldest = self.spare(now, Duration::ZERO).min_by_key(|&(t, _)| t);
        if let Some((_, k)) = oldest {
            self.force_out(k);
        }
    }

    /// The entries that may be forced out, with when each was last used or
    /// confirmed (`None`: failed), if that was `age` ago or more. Never an
    /// entry on the internal NIC that names a MAC or is being resolved (real
    /// servers and their gateway live there), nor one traffic is verifying
    /// (`Delay`, `Probe`) or whose move is being verified.
    fn spare(
        &self,
        now: Instant,
        age: Duration,
    ) -> impl Iterator<Item = (Option<Instant>, (Nic, A))> + '_ {
        self.entries.iter().filter_map(move |(&k, e)| {
            let confirmed = match *e {
                EntryState::Failed { .. } => return Some((None, k)),
                _ if k.0 == Nic::Int => return None,
                EntryState::Reachable { until, .. } => until.checked_sub(REACHABLE),
                EntryState::Stale { confirmed, .. } => Some(confirmed),
                EntryState::Incomplete { .. } => None,
                EntryState::Delay { .. }
                | EntryState::Probe { .. }
                | EntryState::Verifying { .. } => {
                    return None;
                }
            };
            // `resolve` notes every new entry's use; one with no time known
            // is taken for old, as the last to go.
            match self.used.get(&k).copied().max(confirmed) {
                Some(last) => (last + age <= now).then_some((Some(last), k)),
                None => Some((Some(now), k)),
            }
        })
    }

    /// Removes the entry `k` [`Family::spare`] offered.
    fn force_out(&mut self, k: (Nic, A)) {
        if let Some(e) = self.entries.remove(&k) {
            self.used.remove(&k);
            // A failed or incomplete entry was not published.
            self.dirty |= !matches!(e, EntryState::Failed { .. } | EntryState::Incomplete { .. });
        }
    }

    /// A message from `ip` at `mac`; returns a probe to send right away, if any.
    pub(super) fn heard(
        &mut self,
        nic: Nic,
        ip: A,
        mac: Mac,
        claim: Claim,
        now: Instant,
    ) -> Option<Probe> {
        if mac.is_multicast() {
            return None;
        }
        let key = (nic, ip);
        let learned = EntryState::Reachable {
            mac,
            until: now + REACHABLE,
        };
        match self.entries.get(&key).copied() {
            Some(EntryState::Incomplete { .. } | EntryState::Failed { .. }) if claim.answer => {
                self.entries.insert(key, learned);
                self.dirty = true;
                None
            }
            // The neighbor we are resolving (or failed to) asked for us: its
            // MAC, not yet confirmed (`neigh_event_ns`: `NUD_STALE`); the
            // traffic that waits for it goes, and using it has it verified.
            Some(EntryState::Incomplete { .. } | EntryState::Failed { .. }) if claim.request => {
                self.entries.insert(
                    key,
                    EntryState::Stale {
                        mac,
                        confirmed: now,
                    },
                );
                self.dirty = true;
                None
            }
            // Its own MAC refreshes a known neighbor (and refutes a claim),
            // and confirms a stale one or one being verified.
            Some(
                EntryState::Reachable { mac: m, .. }
                | EntryState::Stale { mac: m, .. }
                | EntryState::Delay { mac: m, .. }
                | EntryState::Probe { mac: m, .. },
            ) if m == mac => {
                self.entries.insert(key, learned);
                None
            }
            Some(EntryState::Verifying { mac: m, .. }) if m == mac => {
                self.refuted += 1;
                self.entries.insert(key, learned);
                None
            }
            // Another MAC claims a known neighbor's address: ask the old MAC
            // (unicast) before believing it; it keeps the traffic.
            Some(
                EntryState::Reachable { mac: old, .. }
                | EntryState::Stale { mac: old, .. }
                | EntryState::Delay { mac: old, .. }
                | EntryState::Probe { mac: old, .. },
            ) if claim.may_move => {
                // A standby sends no probe: none is counted, and the
                // verification waits until the director is active and asks.
                let asked = !self.standby;
                self.entries.insert(
                    key,
                    EntryState::Verifying {
                        mac: old,
                        claimed: mac,
                        probes: u8::from(asked),
                        next: if asked { now + MOVE_RETRANS } else { now },
                    },
                );
                asked.then(|| A::probe(nic, ip, Some(old)))
            }
            Some(EntryState::Verifying {
                mac: old,
                probes,
                next,
                ..
            }) if claim.may_move => {
                // The latest claimant is the one adopted if the old MAC stays
                // silent.
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
            // Unsolicited for an unknown (or unresolved) address, or another
            // MAC that does not claim.
            _ => None,
        }
    }

    /// Traffic used `ip` on `nic` at `now` (the workers' flags, read by the
    /// control thread): a stale entry is verified (`neigh_event_send`, in
    /// Linux when a packet goes through a `NUD_STALE` entry, which then
    /// waits `DELAY_PROBE_TIME` for a confirmation before it probes).
    pub(super) fn use_at(&mut self, nic: Nic, ip: A, now: Instant) {
        let key = (nic, ip);
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        self.used.insert(key, now);
        if let EntryState::Stale { mac, .. } = *e {
            *e = EntryState::Delay {
                mac,
                until: now + DELAY_FIRST_PROBE,
            };
        }
    }

    /// [`Family::use_at`] for every entry whose flag a worker raised.
    pub(super) fn note_use(&mut self, used: &super::used::Raised, now: Instant) {
        let keys: Vec<(Nic, A)> = self
            .entries
            .keys()
            .filter(|&&(nic, ip)| used.is_set(nic, ip))
            .copied()
            .collect();
        for (nic, ip) in keys {
            self.use_at(nic, ip, now);
        }
    }

    /// Advance time: retransmit, refresh, verify, let unused entries go
    /// stale, collect them and expire; the probes to send go to `probes`.
    pub(super) fn tick(&mut self, now: Instant, probes: &mut Vec<Probe>) {
        let mut dirty = false;
        let mut moved = 0;
        let used = &self.used;
        let last_use = |k: &(Nic, A)| used.get(k).copied();
        // `neigh_periodic_work` collects only in a table this full.
        let collect = self.entries.len() >= GC_THRESH1;
        // Its refresh is due `reach` after its confirmation, i.e. this long
        // before it would run out (`reach` is below `REACHABLE`).
        let margin = REACHABLE.saturating_sub(self.reach);
        let standby = self.standby;
        self.entries.retain(|&(nic, ip), e| match *e {
            // On a standby the old MAC is not asked, so it cannot have stayed
            // silent: the claimant is not adopted there.
            EntryState::Verifying { .. } if standby => true,
            EntryState::Incomplete { probes: n, next } if next <= now => {
                if n >= MAX_PROBES {
                    *e = EntryState::Failed {
                        until: now + FAILED_KEEP,
                    };
                } else {
                    probes.push(A::probe(nic, ip, None));
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
            // The refresh is due (the family's reachable time since it was
            // confirmed): probed if traffic used the entry within
            // `DELAY_FIRST_PROBE`, else let go stale, not probed
            // (`neigh_timer_handler`'s choice when `reachable_time` ends).
            EntryState::Reachable { mac, until } if until <= now + margin => {
                let recent = last_use(&(nic, ip)).is_some_and(|u| u + DELAY_FIRST_PROBE > now);
                *e = if recent {
                    // Still published; up to `MAX_PROBES` go before it is
                    // given up (`NUD_PROBE`'s `ucast_probes`), so one lost
                    // answer does not unpublish a neighbor in use.
                    probes.push(A::probe(nic, ip, Some(mac)));
                    EntryState::Probe {
                        mac,
                        probes: 1,
                        next: now + RETRANS,
                    }
                } else {
                    EntryState::Stale {
                        mac,
                        confirmed: until - REACHABLE,
                    }
                };
                true
            }
            // Neither used nor confirmed for `GC_STALETIME`: collected
            // (`neigh_periodic_work`, where `used` is at least `confirmed`).
            EntryState::Stale { confirmed, .. } => {
                let last = last_use(&(nic, ip)).map_or(confirmed, |u| u.max(confirmed));
                let keep = !collect || last + GC_STALETIME > now;
                dirty |= !keep;
                keep
            }
            EntryState::Delay { mac, until } if until <= now => {
                probes.push(A::probe(nic, ip, Some(mac)));
                *e = EntryState::Probe {
                    mac,
                    probes: 1,
                    next: now + RETRANS,
                };
                true
            }
            EntryState::Probe {
                mac,
                probes: n,
                next,
            } if next <= now => {
                if n >= MAX_PROBES {
                    // Unanswered: gone, as a reachable entry that runs out.
                    dirty = true;
                    return false;
                }
                probes.push(A::probe(nic, ip, Some(mac)));
                *e = EntryState::Probe {
                    mac,
                    probes: n + 1,
                    next: now + RETRANS,
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
                    };
                    moved += 1;
                    dirty = true;
                } else {
                    probes.push(A::probe(nic, ip, Some(mac)));
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
        let entries = &self.entries;
        self.used.retain(|k, _| entries.contains_key(k));
        self.moved += moved;
        self.dirty |= dirty;
    }

    /// The probe of `ip` on `nic` (to `to`, or to everyone concerned) did
    /// not go: the entry it was counted in counts it no more.
    pub(super) fn unsent(&mut self, nic: Nic, ip: A, to: Option<Mac>) {
        let probes = match (self.entries.get_mut(&(nic, ip)), to) {
            (Some(EntryState::Incomplete { probes, .. }), None) => probes,
            (
                Some(
                    EntryState::Probe { mac, probes, .. }
                    | EntryState::Verifying { mac, probes, .. },
                ),
                Some(to),
            ) if *mac == to => probes,
            _ => return,
        };
        *probes = probes.saturating_sub(1);
    }

    /// The director became a standby (`true`) or active: made active, every
    /// verification starts again from its first probe, so the old MAC gets
    /// all [`MOVE_PROBES`] from a director that can send them.
    pub(super) fn set_standby(&mut self, standby: bool, now: Instant) {
        if self.standby && !standby {
            for e in self.entries.values_mut() {
                if let EntryState::Verifying { probes, next, .. } = e {
                    *probes = 0;
                    *next = now;
                }
            }
        }
        self.standby = standby;
    }

    /// The MACs workers may send to: reachable entries, and entries being
    /// verified (their old MAC keeps the traffic meanwhile).
    pub(super) fn publish(&self, maps: &mut [super::Macs<A>; 2]) {
        for (&(nic, ip), e) in &self.entries {
            if let EntryState::Reachable { mac, .. }
            | EntryState::Verifying { mac, .. }
            | EntryState::Stale { mac, .. }
            | EntryState::Delay { mac, .. }
            | EntryState::Probe { mac, .. } = e
            {
                maps[nic as usize].insert(ip, *mac);
            }
        }
    }

    pub(super) fn state(&self, nic: Nic, ip: A) -> Option<EntryState> {
        self.entries.get(&(nic, ip)).copied()
    }

    pub(super) fn entries(&self) -> impl Iterator<Item = (Nic, A, EntryState)> + '_ {
        self.entries.iter().map(|(&(nic, ip), &e)| (nic, ip, e))
    }
}

/// The table's rules, once for both families: every test is generic over the
/// address type and runs for IPv4 and IPv6 (`ipv4::` and `ipv6::`), through
/// the public events a worker sends.
#[cfg(test)]
mod test {
    use super::super::{NeighEvent, NeighTable, Used};
    use super::*;
    use std::net::Ipv6Addr;
    use std::time::Duration;

    /// What the tests need of a family beyond `NeighAddr`.
    trait Fam: NeighAddr {
        /// A real server on the internal link.
        fn rs() -> Self;
        /// Another address on that link.
        fn other() -> Self;
        /// What claims `ip` for `mac` without our having asked: every kind
        /// of message that starts a verification of a known entry.
        fn claims(ip: Self, mac: Mac) -> Vec<NeighEvent>;
        /// The message a host that moved sends on its own: gratuitous ARP, an
        /// unsolicited advertisement with the override flag.
        fn announcement(ip: Self, mac: Mac) -> NeighEvent;
        /// A request for one of our addresses from `ip` at `mac`: an ARP
        /// request, a solicitation with its source link-layer option.
        fn request(ip: Self, mac: Mac) -> NeighEvent;
        /// The family's multicast MAC.
        fn group_mac() -> Mac;
        /// The address after `ip`.
        fn next(ip: Self) -> Self;
    }

    impl Fam for u32 {
        fn rs() -> u32 {
            u32::from_be_bytes([198, 19, 0, 2])
        }
        fn other() -> u32 {
            u32::from_be_bytes([198, 19, 0, 3])
        }
        fn claims(ip: u32, mac: Mac) -> Vec<NeighEvent> {
            [true, false]
                .map(|reply| NeighEvent::Heard {
                    nic: Nic::Int,
                    ip,
                    mac,
                    reply,
                })
                .into()
        }
        fn announcement(ip: u32, mac: Mac) -> NeighEvent {
            // Gratuitous ARP is a request from the address for itself.
            NeighEvent::Heard {
                nic: Nic::Int,
                ip,
                mac,
                reply: false,
            }
        }
        fn request(ip: u32, mac: Mac) -> NeighEvent {
            NeighEvent::Heard {
                nic: Nic::Int,
                ip,
                mac,
                reply: false,
            }
        }
        fn group_mac() -> Mac {
            Mac::BROADCAST
        }
        fn next(ip: u32) -> u32 {
            ip + 1
        }
    }

    impl Fam for Ipv6Addr {
        fn rs() -> Ipv6Addr {
            Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 2)
        }
        fn other() -> Ipv6Addr {
            Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 3)
        }
        fn claims(ip: Ipv6Addr, mac: Mac) -> Vec<NeighEvent> {
            let na = |solicited| NeighEvent::HeardNa {
                nic: Nic::Int,
                ip,
                tlla: Some(mac),
                src: mac,
                solicited,
                overrides: true,
            };
            vec![
                na(true),
                na(false),
                NeighEvent::HeardNs {
                    nic: Nic::Int,
                    ip,
                    mac,
                },
            ]
        }
        fn announcement(ip: Ipv6Addr, mac: Mac) -> NeighEvent {
            NeighEvent::HeardNa {
                nic: Nic::Int,
                ip,
                tlla: Some(mac),
                src: mac,
                solicited: false,
                overrides: true,
            }
        }
        fn request(ip: Ipv6Addr, mac: Mac) -> NeighEvent {
            NeighEvent::HeardNs {
                nic: Nic::Int,
                ip,
                mac,
            }
        }
        fn group_mac() -> Mac {
            Mac([0x33, 0x33, 0, 0, 0, 1])
        }
        fn next(ip: Ipv6Addr) -> Ipv6Addr {
            Ipv6Addr::from_bits(ip.to_bits() + 1)
        }
    }

    const MAC: Mac = Mac([2, 0, 0, 0, 0, 2]);
    const BOGUS: Mac = Mac([2, 0xde, 0xad, 0xbe, 0xef, 1]);

    fn resolve<A: Fam>(ip: A) -> NeighEvent {
        A::resolve(Nic::Int, ip)
    }

    fn answer<A: Fam>(ip: A, mac: Mac) -> NeighEvent {
        A::answer(Nic::Int, ip, mac)
    }

    /// The unicast probe of the entry's old MAC.
    fn old_probe<A: Fam>() -> Probe {
        A::probe(Nic::Int, A::rs(), Some(MAC))
    }

    /// Three probes [`RETRANS`] apart, then failed; asked for again, a
    /// failed entry is probed at once, as Linux's `__neigh_event_send`
    /// restarts a `NUD_FAILED` neighbour, and asks while it is being
    /// resolved add no probe to the one each [`RETRANS`].
    fn resolve_retries_then_fails_then_retries_at_once<A: Fam>() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        let ev = resolve(A::rs());
        let probe = A::probe(Nic::Int, A::rs(), None);
        assert_eq!(t.event(ev, t0), Some(probe));
        assert_eq!(t.event(ev, t0), None, "one outstanding request");
        let mut p = vec![];
        for s in 1..=3 {
            t.tick(t0 + RETRANS * s, &mut p);
        }
        assert_eq!(p, vec![probe; 2], "probes 2 and 3");
        assert!(matches!(
            t.state(Nic::Int, A::rs()),
            Some(EntryState::Failed { .. })
        ));
        // A retransmission half a second after it failed: probed at once.
        let again = t0 + RETRANS * 3 + Duration::from_millis(500);
        assert_eq!(t.event(ev, again), Some(probe), "failed: asked again");
        assert_eq!(t.event(ev, again), None, "one outstanding request");
        assert!(matches!(
            t.state(Nic::Int, A::rs()),
            Some(EntryState::Incomplete { probes: 1, .. })
        ));
        p.clear();
        for ms in (0..=2000).step_by(100) {
            let now = again + Duration::from_millis(ms);
            assert_eq!(t.event(ev, now), None, "at {ms} ms");
            t.tick(now, &mut p);
        }
        assert_eq!(p, vec![probe; 2], "probes 2 and 3, a second apart");
        // An answer then resolves it.
        t.event(answer(A::rs(), MAC), again + RETRANS * 2);
        assert_eq!(published::<A>(&t), Some(MAC));
    }

    /// A neighbor we are resolving, or failed to, that asks for one of our
    /// addresses (ARP request, solicitation) is reached at the MAC it asks
    /// from: its entry goes stale there, published (Linux's
    /// `neigh_event_ns`, `NUD_STALE`), and traffic using it has it verified
    /// by a unicast probe [`DELAY_FIRST_PROBE`] later. A host back from a
    /// reboot while we had given up on it is not ignored.
    fn a_request_from_a_neighbor_being_resolved_or_failed_resolves_it<A: Fam>() {
        let t0 = Instant::now();
        for failed in [false, true] {
            let mut t = NeighTable::new();
            t.event(resolve(A::rs()), t0);
            let mut p = vec![];
            let at = if failed {
                for s in 1..=3 {
                    t.tick(t0 + RETRANS * s, &mut p);
                }
                assert!(matches!(
                    t.state(Nic::Int, A::rs()),
                    Some(EntryState::Failed { .. })
                ));
                t0 + RETRANS * 3 + Duration::from_millis(500)
            } else {
                t0 + Duration::from_millis(500)
            };
            assert!(t.take_snapshot().is_none());
            assert_eq!(t.event(A::request(A::rs(), MAC), at), None);
            let snap = t.take_snapshot().expect("published");
            assert_eq!(snap.get(Nic::Int, A::rs()), Some(MAC), "failed: {failed}");
            assert!(matches!(
                t.state(Nic::Int, A::rs()),
                Some(EntryState::Stale { mac, confirmed }) if mac == MAC && confirmed == at
            ));
            let used = Used::default();
            used.mark(Nic::Int, A::rs());
            t.note_use(&used, at);
            p.clear();
            t.tick(at + DELAY_FIRST_PROBE - Duration::from_millis(100), &mut p);
            assert!(p.is_empty(), "{p:?}");
            t.tick(at + DELAY_FIRST_PROBE, &mut p);
            assert_eq!(p, [old_probe::<A>()]);
        }
    }

    fn reply_resolves_and_publishes<A: Fam>() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        t.event(resolve(A::rs()), t0);
        assert!(t.take_snapshot().is_none());
        t.event(answer(A::rs(), MAC), t0);
        let snap = t.take_snapshot().expect("changed");
        assert_eq!(snap.get(Nic::Int, A::rs()), Some(MAC));
        assert_eq!(snap.get(Nic::Ext, A::rs()), None);
        assert_eq!(snap.len(), 1);
        assert!(t.take_snapshot().is_none());
    }

    /// Neither an answer nor a claim creates an entry we did not ask for.
    fn unsolicited_is_not_learned<A: Fam>() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        let mut evs = A::claims(A::rs(), MAC);
        evs.push(answer(A::rs(), MAC));
        for ev in evs {
            assert_eq!(t.event(ev, t0), None, "{ev:?}");
            assert!(t.take_snapshot().is_none(), "{ev:?}");
            assert_eq!(t.state(Nic::Int, A::rs()), None, "{ev:?}");
        }
    }

    /// An entry traffic uses is probed when its refresh is due, still
    /// published, with up to [`MAX_PROBES`] unicast probes [`RETRANS`]
    /// apart (`NUD_PROBE`'s `ucast_probes`: one lost answer does not
    /// unpublish it), and is given up when none is answered.
    fn reachable_in_use_is_refreshed_then_expires<A: Fam>() {
        let t0 = Instant::now();
        let mut t = resolved::<A>(t0);
        let reach = t.reachable_time::<A>();
        let at = |i: u32| t0 + reach + RETRANS * i;
        let (mut p, used) = (vec![], Used::default());
        used.mark(Nic::Int, A::rs());
        t.note_use(&used, t0 + reach - Duration::from_secs(1));
        for i in 0..u32::from(MAX_PROBES) {
            t.tick(at(i), &mut p);
            assert_eq!(std::mem::take(&mut p), [old_probe::<A>()], "probe {i}");
            assert!(t.take_snapshot().is_none(), "still published at probe {i}");
        }
        t.tick(at(u32::from(MAX_PROBES)), &mut p);
        assert!(p.is_empty());
        let snap = t.take_snapshot().expect("given up");
        assert!(snap.is_empty());
        assert_eq!(t.state(Nic::Int, A::rs()), None);
        // Answered at the second probe: reachable again, no third.
        let mut t = resolved::<A>(t0);
        let reach = t.reachable_time::<A>();
        let at = |i: u32| t0 + reach + RETRANS * i;
        used.mark(Nic::Int, A::rs());
        t.note_use(&used, t0 + reach - Duration::from_secs(1));
        t.tick(at(0), &mut p);
        t.tick(at(1), &mut p);
        assert_eq!(std::mem::take(&mut p).len(), 2);
        t.event(answer(A::rs(), MAC), at(1));
        t.tick(at(2), &mut p);
        assert!(p.is_empty());
        assert!(matches!(
            t.state(Nic::Int, A::rs()),
            Some(EntryState::Reachable { mac, .. }) if mac == MAC
        ));
    }

    /// One control step (`control::neigh`): the workers' marks, then a tick.
    fn step(t: &mut NeighTable, used: &Used, now: Instant, p: &mut Vec<Probe>) {
        t.note_use(used, now);
        t.tick(now, p);
    }

    /// Traffic that keeps using a neighbor keeps it reachable: a unicast
    /// probe each time its refresh is due, answered, and never a moment
    /// without its MAC published (frames never wait for it).
    fn a_used_entry_keeps_being_refreshed<A: Fam>() {
        let t0 = Instant::now();
        let mut t = resolved::<A>(t0);
        let (mut p, used) = (vec![], Used::default());
        let mut probed_at = vec![];
        // The reachable time on the 100 ms ticks (it is drawn again only
        // after 300 s).
        let every = t.reachable_time::<A>().as_millis().div_ceil(100) as u64 * 100;
        for ms in (100..=300_000u64).step_by(100) {
            let now = t0 + Duration::from_millis(ms);
            used.mark(Nic::Int, A::rs());
            step(&mut t, &used, now, &mut p);
            if !p.is_empty() {
                assert_eq!(p, [old_probe::<A>()], "at {ms} ms");
                p.clear();
                probed_at.push(ms);
                t.event(answer(A::rs(), MAC), now);
            }
            assert!(t.take_snapshot().is_none(), "changed at {ms} ms");
            assert!(
                matches!(t.state(Nic::Int, A::rs()), Some(EntryState::Reachable { mac, .. }) if mac == MAC),
                "at {ms} ms: {:?}",
                t.state(Nic::Int, A::rs())
            );
        }
        let want: Vec<u64> = (1..=300_000 / every).map(|k| k * every).collect();
        assert_eq!(probed_at, want);
    }

    /// [`GC_THRESH1`] neighbors (the real server among them) resolved at
    /// `t0`, then nobody uses them.
    fn many_resolved<A: Fam>(t0: Instant) -> (NeighTable, Vec<A>) {
        let mut t = resolved::<A>(t0);
        let mut all = vec![A::rs()];
        let mut ip = A::other();
        while all.len() < GC_THRESH1 {
            t.learn(Nic::Ext, ip, BOGUS, t0);
            all.push(ip);
            ip = A::next(ip);
        }
        assert!(t.take_snapshot().is_some());
        (t, all)
    }

    /// Entries no traffic uses are not probed when their refresh is due:
    /// they go stale, still published, and are collected once neither used
    /// nor confirmed for [`GC_STALETIME`], in a table of [`GC_THRESH1`]
    /// entries; a smaller table keeps its stale entries, unprobed, as
    /// Linux's does.
    fn unused_entries_go_stale_unprobed_and_are_collected<A: Fam>() {
        let t0 = Instant::now();
        let (mut t, all) = many_resolved::<A>(t0);
        let (mut p, used) = (vec![], Used::default());
        let mut collected = None;
        let reach = t.reachable_time::<A>();
        for s in 1..=200u64 {
            let now = t0 + Duration::from_secs(s);
            step(&mut t, &used, now, &mut p);
            assert!(p.is_empty(), "probed at {s} s: {p:?}");
            if now >= t0 + reach && s < 60 {
                assert!(
                    matches!(t.state(Nic::Int, A::rs()), Some(EntryState::Stale { mac, .. }) if mac == MAC),
                    "at {s} s"
                );
                assert!(t.take_snapshot().is_none(), "still published at {s} s");
            }
            if let Some(snap) = t.take_snapshot() {
                assert!(snap.is_empty(), "at {s} s: {} left", snap.len());
                collected.get_or_insert(s);
            }
        }
        assert_eq!(collected, Some(60));
        assert!(all.iter().all(|ip| t.state(Nic::Int, *ip).is_none()));
        assert_eq!(t.entries().count(), 0);

        // One entry alone goes stale and stays, unprobed.
        let mut t = resolved::<A>(t0);
        for s in 1..=600u64 {
            step(&mut t, &used, t0 + Duration::from_secs(s), &mut p);
        }
        assert!(p.is_empty(), "{p:?}");
        assert!(matches!(
            t.state(Nic::Int, A::rs()),
            Some(EntryState::Stale { mac, .. }) if mac == MAC
        ));
        assert!(t.take_snapshot().is_none());
    }

    /// Traffic using a stale entry has it verified as Linux does: it waits
    /// [`DELAY_FIRST_PROBE`] for a confirmation, then probes by unicast;
    /// an answer makes it reachable, [`MAX_PROBES`] unanswered remove it.
    /// Its MAC stays published meanwhile. A use also spares it the
    /// collection.
    fn a_stale_entry_used_again_is_verified<A: Fam>() {
        let t0 = Instant::now();
        let (mut p, used) = (vec![], Used::default());
        for answered in [true, false] {
            let (mut t, _) = many_resolved::<A>(t0);
            for s in 1..=50u64 {
                step(&mut t, &used, t0 + Duration::from_secs(s), &mut p);
            }
            assert!(matches!(
                t.state(Nic::Int, A::rs()),
                Some(EntryState::Stale { .. })
            ));
            // A frame goes to it at 50.5 s.
            used.mark(Nic::Int, A::rs());
            let used_at = t0 + Duration::from_millis(50_500);
            step(&mut t, &used, used_at, &mut p);
            assert!(matches!(
                t.state(Nic::Int, A::rs()),
                Some(EntryState::Delay { mac, until }) if mac == MAC && until == used_at + DELAY_FIRST_PROBE
            ));
            assert!(p.is_empty());
            let mut probes_at = vec![];
            let mut gone = None;
            for ms in (50_600..=70_000u64).step_by(100) {
                let now = t0 + Duration::from_millis(ms);
                step(&mut t, &used, now, &mut p);
                if !p.is_empty() {
                    assert_eq!(p, [old_probe::<A>()], "at {ms} ms");
                    p.clear();
                    probes_at.push(ms);
                    if answered {
                        t.event(answer(A::rs(), MAC), now);
                    }
                }
                if let Some(snap) = t.take_snapshot() {
                    let left = snap.get(Nic::Int, A::rs());
                    if left.is_none() {
                        gone.get_or_insert(ms);
                    }
                }
                if gone.is_none() {
                    assert_eq!(published::<A>(&t), Some(MAC), "at {ms} ms");
                }
            }
            if answered {
                assert_eq!(probes_at, [55_500]);
                assert_eq!(gone, None, "verified, then kept");
                assert!(matches!(
                    t.state(Nic::Int, A::rs()),
                    Some(EntryState::Reachable { mac, .. }) if mac == MAC
                ));
            } else {
                assert_eq!(probes_at, [55_500, 56_500, 57_500]);
                assert_eq!(gone, Some(58_500));
                assert_eq!(t.state(Nic::Int, A::rs()), None);
            }
        }
    }

    fn resolved<A: Fam>(t0: Instant) -> NeighTable {
        let mut t = NeighTable::new();
        t.event(resolve(A::rs()), t0);
        t.event(answer(A::rs(), MAC), t0);
        assert!(t.take_snapshot().is_some());
        t
    }

    /// The MAC the workers get for the real server (every state that
    /// [`Family::publish`] publishes).
    fn published<A: Fam>(t: &NeighTable) -> Option<Mac> {
        match t.state(Nic::Int, A::rs()) {
            Some(
                EntryState::Reachable { mac, .. }
                | EntryState::Verifying { mac, .. }
                | EntryState::Stale { mac, .. }
                | EntryState::Delay { mac, .. }
                | EntryState::Probe { mac, .. },
            ) => Some(mac),
            _ => None,
        }
    }

    /// Every kind of claim from another MAC for a known neighbor does not
    /// replace its entry while its own MAC answers the unicast probe that the
    /// claim triggers; messages from its own MAC refresh it.
    fn a_reachable_entry_is_not_poisoned_by_another_mac<A: Fam>() {
        let t0 = Instant::now();
        let mut t = resolved::<A>(t0);
        let claims = A::claims(A::rs(), BOGUS);
        for claim in &claims {
            assert_eq!(
                t.event(*claim, t0),
                Some(old_probe::<A>()),
                "the claim makes us ask the old MAC: {claim:?}"
            );
            assert!(t.take_snapshot().is_none(), "entry changed: {claim:?}");
            assert_eq!(published::<A>(&t), Some(MAC));
            // The owner answers the probe: the claim is refuted.
            t.event(answer(A::rs(), MAC), t0 + Duration::from_millis(1));
            assert!(matches!(
                t.state(Nic::Int, A::rs()),
                Some(EntryState::Reachable { mac, .. }) if mac == MAC
            ));
        }
        assert_eq!((t.refuted, t.moved), (claims.len() as u64, 0));
        // Time passes well beyond the probes: nothing switches.
        let mut p = vec![];
        for ms in (0..3000).step_by(100) {
            t.tick(t0 + Duration::from_millis(ms), &mut p);
        }
        assert!(p.is_empty(), "{p:?}");
        assert!(t.take_snapshot().is_none());
        // Every message from the owner's MAC refreshes the entry.
        for (k, ev) in A::claims(A::rs(), MAC).into_iter().enumerate() {
            let later = t0 + Duration::from_secs(5 + k as u64);
            assert_eq!(t.event(ev, later), None);
            assert!(
                matches!(t.state(Nic::Int, A::rs()), Some(EntryState::Reachable { until, .. }) if until == later + REACHABLE),
                "{ev:?}"
            );
        }
    }

    /// A forger that keeps claiming while the owner answers each probe never
    /// gets the entry; claims during a verification send no extra probe.
    fn repeated_claims_lose_to_an_owner_that_answers<A: Fam>() {
        let t0 = Instant::now();
        let mut t = resolved::<A>(t0);
        let claims = A::claims(A::rs(), BOGUS);
        let mut p = vec![];
        for (k, ms) in (0..5000u64).step_by(50).enumerate() {
            let now = t0 + Duration::from_millis(ms);
            p.extend(t.event(claims[k % claims.len()], now));
            t.tick(now, &mut p);
            if !p.is_empty() {
                assert!(p.iter().all(|x| *x == old_probe::<A>()), "{p:?}");
                p.clear();
                t.event(answer(A::rs(), MAC), now);
            }
            assert_eq!(published::<A>(&t), Some(MAC), "at {ms} ms");
        }
        assert_eq!(t.moved, 0);
        assert!(t.refuted > 0);
        assert!(t.take_snapshot().is_none());
    }

    /// A host that moved says so from its new MAC while the old MAC is
    /// silent: unicast probes of the old MAC, then the new MAC is adopted and
    /// published `MOVE_PROBES * MOVE_RETRANS` after the claim (+ one 100 ms
    /// control tick).
    fn a_silent_old_mac_is_replaced_by_the_claimant_within_a_second<A: Fam>() {
        let t0 = Instant::now();
        let mut t = resolved::<A>(t0);
        let claim = t0 + Duration::from_secs(10);
        assert_eq!(
            t.event(A::announcement(A::rs(), BOGUS), claim),
            Some(old_probe::<A>())
        );
        let mut p = vec![];
        let mut switched = None;
        for ms in (0..=2000u64).step_by(100) {
            let now = claim + Duration::from_millis(ms);
            t.tick(now, &mut p);
            if let Some(s) = t.take_snapshot() {
                assert_eq!(s.get(Nic::Int, A::rs()), Some(BOGUS));
                switched = Some(ms);
                break;
            }
            assert_eq!(published::<A>(&t), Some(MAC));
        }
        assert_eq!(p, vec![old_probe::<A>(); usize::from(MOVE_PROBES) - 1]);
        let ms = switched.expect("adopted");
        // 750 ms, seen at the next 100 ms tick.
        assert_eq!(ms, 800, "switched after {ms} ms");
        assert_eq!(t.moved, 1);
        assert!(matches!(
            t.state(Nic::Int, A::rs()),
            Some(EntryState::Reachable { mac, until, .. }) if mac == BOGUS && until > claim + REACHABLE
        ));
        // The old MAC coming back later is now the claimant.
        let back = A::claims(A::rs(), MAC)[0];
        assert_eq!(
            t.event(back, claim + Duration::from_secs(2)),
            Some(A::probe(Nic::Int, A::rs(), Some(BOGUS)))
        );
    }

    /// A standby sends no probe, so it adopts no claim however long it
    /// waits: the old MAC stays published, and the claim waits. Once
    /// active, the old MAC is asked [`MOVE_PROBES`] times from then: an
    /// answer keeps it; silence adopts the claimant as on an active
    /// director, `MOVE_PROBES * MOVE_RETRANS` after the activation.
    fn a_standby_adopts_no_claim_and_verifies_it_once_active<A: Fam>() {
        let t0 = Instant::now();
        for answered in [true, false] {
            let mut t = resolved::<A>(t0);
            t.set_standby(true, t0);
            let mut p = vec![];
            for (k, ev) in A::claims(A::rs(), BOGUS).into_iter().enumerate() {
                let at = t0 + Duration::from_millis(10 * k as u64);
                assert_eq!(t.event(ev, at), None, "a standby asks nothing: {ev:?}");
            }
            for ms in (0..=5000u64).step_by(100) {
                t.tick(t0 + Duration::from_millis(ms), &mut p);
                assert_eq!(published::<A>(&t), Some(MAC), "at {ms} ms");
                assert!(t.take_snapshot().is_none(), "changed at {ms} ms");
            }
            assert!(p.is_empty(), "{p:?}");
            assert_eq!(t.moved, 0);
            assert!(matches!(
                t.state(Nic::Int, A::rs()),
                Some(EntryState::Verifying { mac, claimed, probes: 0, .. }) if mac == MAC && claimed == BOGUS
            ));
            // Active: the old MAC is asked at the first tick.
            let active = t0 + Duration::from_millis(5050);
            t.set_standby(false, active);
            let mut switched = None;
            for ms in (50..=2000u64).step_by(100) {
                let now = active + Duration::from_millis(ms);
                t.tick(now, &mut p);
                if answered && !p.is_empty() {
                    assert_eq!(p, [old_probe::<A>()]);
                    t.event(answer(A::rs(), MAC), now);
                }
                if let Some(s) = t.take_snapshot() {
                    assert_eq!(s.get(Nic::Int, A::rs()), Some(BOGUS));
                    switched.get_or_insert(ms);
                }
            }
            if answered {
                assert_eq!((t.moved, t.refuted), (0, 1));
                assert_eq!(switched, None);
                assert!(matches!(
                    t.state(Nic::Int, A::rs()),
                    Some(EntryState::Reachable { mac, .. }) if mac == MAC
                ));
            } else {
                assert_eq!(p, vec![old_probe::<A>(); usize::from(MOVE_PROBES)]);
                // 750 ms after the activation (a tick falls on it here).
                assert_eq!(switched, Some(750));
                assert_eq!(t.moved, 1);
            }
        }
    }

    /// A flap within one pass (told active, standby when the probes were
    /// to go, active again at the next pass): the probes the tick counted
    /// were not sent, so the verification starts again from its first probe,
    /// and the claimant is adopted only after [`MOVE_PROBES`] probes sent
    /// since.
    fn a_flap_within_a_pass_restarts_the_verification<A: Fam>() {
        let t0 = Instant::now();
        let mut t = resolved::<A>(t0);
        t.set_standby(false, t0);
        let claim = A::claims(A::rs(), BOGUS)[0];
        assert_eq!(t.event(claim, t0), Some(old_probe::<A>()));
        let mut p = vec![];
        // The second probe is counted, then withheld: standby at the send.
        let flap = t0 + Duration::from_millis(300);
        t.tick(flap, &mut p);
        assert_eq!(p, [old_probe::<A>()]);
        t.withhold(flap, &mut p);
        assert!(p.is_empty());
        let active = flap + Duration::from_millis(50);
        t.set_standby(false, active);
        let mut switched = None;
        for ms in (0..=2000u64).step_by(50) {
            let now = active + Duration::from_millis(ms);
            t.tick(now, &mut p);
            if t.take_snapshot().is_some() {
                switched.get_or_insert(ms);
            }
        }
        assert_eq!(p, vec![old_probe::<A>(); usize::from(MOVE_PROBES)]);
        assert_eq!(switched, Some(750));
        assert_eq!(published::<A>(&t), Some(BOGUS));
    }

    /// Multicast MACs never claim, and unknown addresses are not verified.
    fn claims_need_a_known_entry_and_a_unicast_mac<A: Fam>() {
        let t0 = Instant::now();
        let mut t = resolved::<A>(t0);
        for ev in A::claims(A::rs(), A::group_mac()) {
            assert_eq!(t.event(ev, t0), None, "{ev:?}");
            assert_eq!(published::<A>(&t), Some(MAC));
        }
        for ev in A::claims(A::other(), BOGUS) {
            assert_eq!(t.event(ev, t0), None, "{ev:?}");
            assert_eq!(t.state(Nic::Int, A::other()), None);
        }
    }

    /// `learn` goes through the state machine: the entry is reachable and
    /// published, as after a real probe and answer.
    fn learn_resolves_like_a_probe_and_its_answer<A: Fam>() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        t.learn(Nic::Int, A::rs(), MAC, t0);
        assert!(matches!(
            t.state(Nic::Int, A::rs()),
            Some(EntryState::Reachable { mac, until }) if mac == MAC && until == t0 + REACHABLE
        ));
        assert_eq!(
            t.take_snapshot().expect("learned").get(Nic::Int, A::rs()),
            Some(MAC)
        );
    }

    /// The refresh of an entry in use comes the family's reachable time
    /// after its confirmation: drawn at random in [15 s, 45 s) as Linux's
    /// `neigh_rand_reach_time` draws it from `base_reachable_time` (30 s),
    /// for each family on its own, and drawn again every 300 s as
    /// `neigh_periodic_work` does. Tables seeded apart draw apart.
    fn the_reachable_time_is_random_and_drawn_again<A: Fam>() {
        use super::super::{BASE_REACHABLE, REACH_REDRAW};
        let range = BASE_REACHABLE / 2..BASE_REACHABLE * 3 / 2;
        let tables: Vec<NeighTable> = (1..=20u64)
            .map(|s| NeighTable::with_seed(s.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect();
        let firsts: Vec<Duration> = tables.iter().map(|t| t.reachable_time::<A>()).collect();
        assert!(firsts.iter().all(|r| range.contains(r)), "{firsts:?}");
        let mut apart = firsts.clone();
        apart.sort();
        apart.dedup();
        assert!(apart.len() >= 15, "{firsts:?}");
        assert!(
            tables
                .iter()
                .any(|t| t.reachable_time::<u32>() != t.reachable_time::<Ipv6Addr>()),
            "each family draws its own"
        );

        // A neighbor in use for an hour, answering every probe.
        let t0 = Instant::now();
        let tick = Duration::from_millis(100);
        let mut t = NeighTable::with_seed(7);
        t.learn(Nic::Int, A::rs(), MAC, t0);
        let (mut p, used) = (vec![], Used::default());
        let (mut confirmed, mut gaps) = (t0, vec![]);
        let mut draws = vec![(t0, t.reachable_time::<A>())];
        for ms in (100..=3_600_000u64).step_by(100) {
            let now = t0 + Duration::from_millis(ms);
            used.mark(Nic::Int, A::rs());
            step(&mut t, &used, now, &mut p);
            let r = t.reachable_time::<A>();
            let redrawn = r != draws[draws.len() - 1].1;
            if redrawn {
                draws.push((now, r));
            }
            if p.is_empty() {
                assert!(now - confirmed < r + tick, "no refresh at {ms} ms");
                continue;
            }
            assert_eq!(std::mem::take(&mut p), [old_probe::<A>()], "at {ms} ms");
            // Due the reachable time in force after the confirmation, at
            // the first tick (or at once, if a new draw made it overdue).
            let gap = now - confirmed;
            assert!(gap >= r && (redrawn || gap < r + tick), "{gap:?} for {r:?}");
            gaps.push(gap);
            t.event(answer(A::rs(), MAC), now);
            confirmed = now;
        }
        assert!(draws.iter().all(|(_, r)| range.contains(r)), "{draws:?}");
        assert!(draws.len() >= 10, "drawn again every 300 s: {draws:?}");
        assert!(
            draws.windows(2).all(|w| w[1].0 - w[0].0 > REACH_REDRAW),
            "{draws:?}"
        );
        gaps.sort();
        gaps.dedup();
        assert!(gaps.len() >= 5, "the refreshes vary: {gaps:?}");
    }

    /// A flood of new neighbors (spoofed clients answered on the external
    /// NIC) fills a family's table to [`GC_THRESH3`] and no further: the
    /// asks past it are refused and counted. Over [`GC_THRESH2`], the next
    /// ask [`FORCED_GC_EVERY`] later forces out what nobody used nor
    /// confirmed for [`FORCED_GC_AGE`], down to [`GC_THRESH2`], but not a
    /// real server's entry (internal NIC) nor one confirmed since.
    fn the_table_is_capped_and_forces_out_what_nobody_needs<A: Fam>() {
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        t.learn(Nic::Int, A::rs(), MAC, t0);
        let flood = |t: &mut NeighTable, first: A, now: Instant| {
            let mut ip = first;
            for _ in 0..5000 {
                t.learn(Nic::Ext, ip, BOGUS, now);
                ip = A::next(ip);
            }
            ip
        };
        let first = A::other();
        let next = flood(&mut t, first, t0);
        let mut p = vec![];
        t.tick(t0 + Duration::from_millis(100), &mut p);
        assert_eq!(t.entries().count(), GC_THRESH3);
        assert_eq!(t.refused, (5000 + 1 - GC_THRESH3) as u64);
        let snap = t.take_snapshot().expect("published");
        assert_eq!(snap.len(), GC_THRESH3);
        assert_eq!(snap.get(Nic::Ext, first), Some(BOGUS));

        // 6 s on, the first is confirmed again, and 5000 more come.
        let t1 = t0 + Duration::from_secs(6);
        t.event(A::answer(Nic::Ext, first, BOGUS), t1);
        flood(&mut t, next, t1);
        assert_eq!(t.entries().count(), GC_THRESH3);
        // Forced out: 4096 - 2048; the 2048 places taken by the new ones.
        assert_eq!(t.refused, (5000 + 1 - GC_THRESH3 + 5000 - 2048) as u64);
        assert!(matches!(
            t.state(Nic::Int, A::rs()),
            Some(EntryState::Reachable { mac, .. }) if mac == MAC
        ));
        assert!(t.state(Nic::Ext, first).is_some(), "confirmed: spared");
        assert!(t.state(Nic::Ext, next).is_some(), "a new one");
        let old = t
            .entries()
            .filter(|e| e.0 == Nic::Ext)
            .filter(
                |e| matches!(e.2, EntryState::Reachable { until, .. } if until < t1 + REACHABLE),
            )
            .count();
        assert_eq!(old, GC_THRESH2 - 2, "the old ones left (less rs and first)");
        let snap = t.take_snapshot().expect("published");
        assert_eq!(snap.len(), GC_THRESH3);
        assert_eq!(snap.get(Nic::Int, A::rs()), Some(MAC));
    }

    /// A table full of external entries none of which may be forced out
    /// yet (flooding clients being resolved, asked for in the last
    /// [`FORCED_GC_AGE`]) refuses another external one, but not a real
    /// server re-learned on the internal NIC: it takes the place of the
    /// external entry asked for longest ago, and is probed. A table that
    /// holds nothing but real servers makes one more past the bound.
    fn an_internal_ask_is_never_refused<A: Fam>() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut t = NeighTable::new();
        let first = A::other();
        t.event(A::resolve(Nic::Ext, first), t0);
        let mut ip = A::next(first);
        for _ in 0..GC_THRESH3 {
            t.event(A::resolve(Nic::Ext, ip), t1);
            ip = A::next(ip);
        }
        assert_eq!(t.entries().count(), GC_THRESH3);
        assert_eq!(t.refused, 1, "the flood's last ask");

        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(t.event(A::resolve(Nic::Ext, ip), t2), None);
        assert_eq!(t.refused, 2, "an external ask is still refused");
        let probe = A::probe(Nic::Int, A::rs(), None);
        assert_eq!(t.event(resolve(A::rs()), t2), Some(probe));
        assert_eq!(t.refused, 2, "the internal ask is not");
        assert!(matches!(
            t.state(Nic::Int, A::rs()),
            Some(EntryState::Incomplete { probes: 1, .. })
        ));
        assert_eq!(t.state(Nic::Ext, first), None, "the oldest ask gave way");
        assert!(t.state(Nic::Ext, A::next(first)).is_some());
        assert_eq!(t.entries().count(), GC_THRESH3);
        assert_eq!(t.event(answer(A::rs(), MAC), t2), None);
        let snap = t.take_snapshot().expect("published");
        assert_eq!(snap.get(Nic::Int, A::rs()), Some(MAC));

        // Nothing but real servers: the next is made all the same.
        let mut t = NeighTable::new();
        let mut ip = A::rs();
        for _ in 0..=GC_THRESH3 {
            assert!(t.event(resolve(ip), t0).is_some());
            ip = A::next(ip);
        }
        assert_eq!(t.entries().count(), GC_THRESH3 + 1);
        assert_eq!(t.refused, 0);
    }

    macro_rules! for_both_families {
        ($($name:ident),* $(,)?) => {
            mod ipv4 {
                $(#[test]
                fn $name() {
                    super::$name::<u32>()
                })*
            }
            mod ipv6 {
                $(#[test]
                fn $name() {
                    super::$name::<std::net::Ipv6Addr>()
                })*
            }
        };
    }

    for_both_families!(
        resolve_retries_then_fails_then_retries_at_once,
        a_request_from_a_neighbor_being_resolved_or_failed_resolves_it,
        reply_resolves_and_publishes,
        unsolicited_is_not_learned,
        reachable_in_use_is_refreshed_then_expires,
        a_used_entry_keeps_being_refreshed,
        unused_entries_go_stale_unprobed_and_are_collected,
        a_stale_entry_used_again_is_verified,
        a_reachable_entry_is_not_poisoned_by_another_mac,
        repeated_claims_lose_to_an_owner_that_answers,
        a_silent_old_mac_is_replaced_by_the_claimant_within_a_second,
        claims_need_a_known_entry_and_a_unicast_mac,
        a_standby_adopts_no_claim_and_verifies_it_once_active,
        a_flap_within_a_pass_restarts_the_verification,
        learn_resolves_like_a_probe_and_its_answer,
        the_reachable_time_is_random_and_drawn_again,
        the_table_is_capped_and_forces_out_what_nobody_needs,
        an_internal_ask_is_never_refused,
    );
}
