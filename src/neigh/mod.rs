//! Neighbors: who is on-link, and their MAC addresses, for IPv4 (ARP) and IPv6
//! (neighbor discovery).
//!
//! The control thread owns the [`NeighTable`] (pure: it is told the time and
//! returns the probes to send, ARP requests or neighbor solicitations) and
//! publishes an immutable [`NeighSnapshot`] that the workers read without
//! locks. Workers ask for a missing neighbor and report the ARP and neighbor
//! discovery they hear over a channel ([`NeighEvent`]). The rules below are
//! written once, over the address type ([`NeighAddr`]: `u32` for IPv4, as the
//! data plane keeps it, and [`Ipv6Addr`]); `ndp.rs` says how IPv6's messages
//! map onto them.
//!
//! Only what we asked for is learned: an ARP reply (or a solicited neighbor
//! advertisement) for an address we are not resolving is ignored, so
//! unsolicited ARP or NDP cannot poison the table. A request addressed to one of
//! our own addresses (ARP request, neighbor solicitation) refreshes the sender
//! only if we already know it at that MAC (RFC 826's "merge" rule), makes an
//! entry being resolved (or failed) stale at that MAC, as Linux's
//! `neigh_event_ns` (ARP) and `ndisc_update` (NDP) do, and creates nothing.
//!
//! A neighbor that answers none of [`MAX_PROBES`] probes fails; the next ask
//! for it probes again at once, as Linux's `__neigh_event_send` restarts a
//! `NUD_FAILED` neighbour: no hold-off, the probes of one resolution going
//! [`RETRANS`] apart being the only pacing.
//!
//! A known neighbor's address claimed from another MAC (a reply, a request to
//! us, gratuitous ARP, an advertisement with the override flag) is a move or a
//! forgery. The entry is not overwritten: it goes to [`EntryState::Verifying`],
//! where the old MAC keeps getting the traffic and is asked, by unicast,
//! whether it still owns the address ([`MOVE_PROBES`] probes, [`MOVE_RETRANS`]
//! apart). If the old MAC answers, the claim is ignored; if it stays silent,
//! the last claimant is adopted, [`MOVE_PROBES`] × [`MOVE_RETRANS`] after the
//! claim. A host that fails over without a virtual MAC (VRRP, a moved VM) is
//! relearned within a second instead of 60 s, and a forger wins only against
//! an owner that does not answer. A standby director sends no probe, so it
//! asks nothing and adopts nothing: a claim it hears waits in
//! [`EntryState::Verifying`] until the director is active, and is verified
//! then from the first probe ([`NeighTable::set_standby`]).
//!
//! An entry no traffic uses is let go, as Linux lets it go: when its refresh
//! is due, an entry traffic used within [`DELAY_FIRST_PROBE`] is probed
//! ([`EntryState::Probe`]: still published, up to [`MAX_PROBES`] unicast
//! probes before it is given up), any other goes [`EntryState::Stale`],
//! still published but no longer probed.
//! Traffic that uses a stale entry (the workers' marks, [`Used`]) has it
//! verified: [`EntryState::Delay`], then unicast [`EntryState::Probe`]s. A
//! stale entry neither used nor confirmed for [`GC_STALETIME`] is collected
//! from a table of [`GC_THRESH1`] entries or more.
//!
//! A family's table is bounded, as Linux bounds a neighbour table
//! (`neigh_alloc`, `neigh_forced_gc`): a new entry in a table of
//! [`GC_THRESH2`] entries or more first forces out the entries nobody
//! needs (failed ones, then those neither used nor confirmed for
//! [`FORCED_GC_AGE`], oldest first, down to [`GC_THRESH2`]), at most every
//! [`FORCED_GC_EVERY`] (every [`FORCED_GC_FULL`] once the table is full);
//! in a table still of [`GC_THRESH3`] entries no external one is made and
//! the ask is refused ([`NeighTable::refused`], the `neigh_table_full`
//! counter). An entry on the internal NIC (a real server, its gateway) or
//! one being probed or verified is never forced out, and an ask on the
//! internal NIC is never refused: it takes the place of the external entry
//! used longest ago, whatever its age (or is made past the bound if none
//! may go), unlike Linux's `neigh_alloc`. A flood of spoofed clients on the
//! external NIC can fill the table, not keep it from re-learning what
//! serves.
//!
//! Router advertisements are not events: the table never learns from one.

mod announce;
mod macs;
mod ndp;
mod prefix;
mod table;
mod used;

pub use announce::{Announce, Announcer, GARP_AT, GARP_REP, GARP_VIP_AT, NA_AT};
pub use macs::{Macs, Place};
pub use ndp::{ALL_NODES, multicast_mac, solicitation_dest, solicited_node};
pub use prefix::{Prefix, Prefix6, next_hop, next_hop6};
pub use table::EntryState;
pub use used::{USED_SLOTS, Used};

use crate::Nic;
use crate::wire::Mac;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};
use table::{Claim, Family};

/// How long a reachable entry lasts without a fresh answer, at most: its
/// refresh comes after the family's reachable time, well before. (Unused
/// when its refresh is due, it goes stale instead, and a stale entry has no
/// such limit: see [`GC_STALETIME`].)
pub const REACHABLE: Duration = Duration::from_secs(60);
/// The base of a family's reachable time, after which a confirmed entry's
/// refresh is due: Linux's `base_reachable_time` (30 s), RFC 4861 §10's
/// `REACHABLE_TIME`. The reachable time itself is drawn at random in
/// `[BASE_REACHABLE / 2, 3 * BASE_REACHABLE / 2)` ([`rand_reach`]).
pub const BASE_REACHABLE: Duration = Duration::from_secs(30);
/// How often a family's reachable time is drawn again: Linux's
/// `neigh_periodic_work` re-draws its tables' every 300 s.
pub const REACH_REDRAW: Duration = Duration::from_secs(300);
/// Between two probes for an unresolved neighbor.
pub const RETRANS: Duration = Duration::from_secs(1);
/// Probes sent before a neighbor is declared unreachable.
pub const MAX_PROBES: u8 = 3;
/// How long the entry of a neighbor that did not answer [`MAX_PROBES`]
/// probes is kept, failed: an answer or a request heard from it meanwhile
/// still resolves it. It holds nothing back: the next ask for it probes
/// again at once, as Linux restarts a `NUD_FAILED` neighbour on the next
/// packet (`__neigh_event_send`).
pub const FAILED_KEEP: Duration = Duration::from_secs(5);
/// Unicast probes of the old MAC when a known neighbor's address is claimed from
/// another MAC, and the time between them: the claimant is adopted
/// `MOVE_PROBES * MOVE_RETRANS` (750 ms) after the claim if none is answered.
pub const MOVE_PROBES: u8 = 3;
pub const MOVE_RETRANS: Duration = Duration::from_millis(250);
/// How recently traffic must have used a reachable entry for its refresh to
/// probe it (else it goes stale), and how long a stale entry that traffic
/// uses waits for a confirmation before it is probed: Linux's
/// `delay_first_probe_time` (`DELAY_PROBE_TIME`, 5 s).
pub const DELAY_FIRST_PROBE: Duration = Duration::from_secs(5);
/// A stale entry neither used nor confirmed for this long is collected:
/// Linux's `gc_stale_time` (60 s).
pub const GC_STALETIME: Duration = Duration::from_secs(60);
/// Stale entries are collected only from a family's table of at least this
/// many entries: Linux's `gc_thresh1` (128; `neigh_periodic_work` returns
/// early below it).
pub const GC_THRESH1: usize = 128;
/// A family's table of this many entries forces out the ones nobody needs
/// before it makes another ([`FORCED_GC_EVERY`] apart), down to this many:
/// Linux's `gc_thresh2` (512) times 4, as [`GC_THRESH3`].
pub const GC_THRESH2: usize = 2048;
/// A family's table holds at most this many entries (per family, both NICs
/// together); an ask for a new neighbor on the external NIC past it is
/// refused, one on the internal NIC takes an external entry's place (or,
/// if none may go, is made past it: the configuration bounds those). Linux's
/// `gc_thresh3` (1024) times 4, a deliberate difference: the director's
/// external link may hold many on-link clients, every one of them an
/// entry, and 4096 entries still publish in well under a millisecond.
pub const GC_THRESH3: usize = 4096;
/// An entry neither used nor confirmed for this long may be forced out of
/// a table over [`GC_THRESH2`]: Linux's `neigh_forced_gc` spares entries
/// updated in the last 5 s.
pub const FORCED_GC_AGE: Duration = Duration::from_secs(5);
/// How often a table over [`GC_THRESH2`] (not full) is swept: Linux's
/// `neigh_alloc` waits 5 s after the last flush.
pub const FORCED_GC_EVERY: Duration = Duration::from_secs(5);
/// How often a full table ([`GC_THRESH3`]) is swept, at most: Linux sweeps
/// on every allocation then; once a tick (100 ms) bounds what a flood of
/// asks costs the control thread.
pub const FORCED_GC_FULL: Duration = Duration::from_millis(100);

mod sealed {
    use super::{EntryState, NeighSnapshot, NeighTable};
    use crate::Nic;
    use crate::wire::Mac;

    /// Where a family's neighbors live; only this module's two families.
    pub trait Sealed: Sized {
        fn mac_in(s: &NeighSnapshot, nic: Nic, ip: Self) -> Option<Mac>;
        fn state_in(t: &NeighTable, nic: Nic, ip: Self) -> Option<EntryState>;
        fn reach_in(t: &NeighTable) -> std::time::Duration;
    }
}

/// A neighbor's address: `u32` (IPv4, host order) or [`Ipv6Addr`]. The
/// table's rules and the snapshot's lookup are written once over it.
pub trait NeighAddr: sealed::Sealed + Copy + Eq + Hash + std::fmt::Debug + Place {
    /// The event a worker sends to have `ip` resolved on `nic`.
    fn resolve(nic: Nic, ip: Self) -> NeighEvent;
    /// The event a worker sends when `mac` answers our probe for `ip` (an ARP
    /// reply; a solicited advertisement with the target link-layer option).
    fn answer(nic: Nic, ip: Self, mac: Mac) -> NeighEvent;
    /// The probe asking `nic`'s link for `ip`: to everyone concerned
    /// (broadcast, solicited-node multicast) or, with `to`, to that MAC only.
    fn probe(nic: Nic, ip: Self, to: Option<Mac>) -> Probe;
}

impl sealed::Sealed for u32 {
    #[inline]
    fn mac_in(s: &NeighSnapshot, nic: Nic, ip: u32) -> Option<Mac> {
        s.v4[nic as usize].get(ip)
    }
    fn state_in(t: &NeighTable, nic: Nic, ip: u32) -> Option<EntryState> {
        t.v4.state(nic, ip)
    }
    fn reach_in(t: &NeighTable) -> Duration {
        t.v4.reach
    }
}

impl NeighAddr for u32 {
    fn resolve(nic: Nic, ip: u32) -> NeighEvent {
        NeighEvent::Resolve { nic, ip }
    }
    fn answer(nic: Nic, ip: u32, mac: Mac) -> NeighEvent {
        NeighEvent::Heard {
            nic,
            ip,
            mac,
            reply: true,
        }
    }
    fn probe(nic: Nic, ip: u32, to: Option<Mac>) -> Probe {
        Probe::Arp { nic, ip, to }
    }
}

impl sealed::Sealed for Ipv6Addr {
    #[inline]
    fn mac_in(s: &NeighSnapshot, nic: Nic, ip: Ipv6Addr) -> Option<Mac> {
        s.v6[nic as usize].get(ip)
    }
    fn state_in(t: &NeighTable, nic: Nic, ip: Ipv6Addr) -> Option<EntryState> {
        t.v6.state(nic, ip)
    }
    fn reach_in(t: &NeighTable) -> Duration {
        t.v6.reach
    }
}

impl NeighAddr for Ipv6Addr {
    fn resolve(nic: Nic, ip: Ipv6Addr) -> NeighEvent {
        NeighEvent::Resolve6 { nic, ip }
    }
    fn answer(nic: Nic, ip: Ipv6Addr, mac: Mac) -> NeighEvent {
        NeighEvent::HeardNa {
            nic,
            ip,
            tlla: Some(mac),
            src: mac,
            solicited: true,
            overrides: true,
        }
    }
    fn probe(nic: Nic, ip: Ipv6Addr, to: Option<Mac>) -> Probe {
        Probe::Ns { nic, ip, to }
    }
}

/// What the workers read: resolved neighbors per family and NIC.
#[derive(Clone, Debug, Default)]
pub struct NeighSnapshot {
    v4: [Macs<u32>; 2],
    v6: [Macs<Ipv6Addr>; 2],
}

impl NeighSnapshot {
    /// The MAC to send to for `ip` (`u32` or `Ipv6Addr`) on `nic`.
    #[inline]
    pub fn get<A: NeighAddr>(&self, nic: Nic, ip: A) -> Option<Mac> {
        A::mac_in(self, nic, ip)
    }

    pub fn len(&self) -> usize {
        self.v4.iter().map(Macs::len).sum::<usize>() + self.v6.iter().map(Macs::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a worker (or the health checker) tells the control thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighEvent {
    /// Please resolve `ip` on `nic` (IPv4).
    Resolve { nic: Nic, ip: u32 },
    /// Heard ARP from `ip` at `mac` on `nic`: a reply to us, or a request for one of
    /// our addresses.
    Heard {
        nic: Nic,
        ip: u32,
        mac: Mac,
        reply: bool,
    },
    /// Please resolve `ip` on `nic` (IPv6).
    Resolve6 { nic: Nic, ip: Ipv6Addr },
    /// Heard a neighbor solicitation for one of our addresses from `ip` on
    /// `nic`, with its source link-layer address option `mac`. Solicitations
    /// without the option, or from the unspecified address (duplicate address
    /// detection), name no neighbor and are not reported.
    HeardNs { nic: Nic, ip: Ipv6Addr, mac: Mac },
    /// Heard a neighbor advertisement for target `ip` on `nic` that passed RFC
    /// 4861 §7.1.2's checks (hop limit 255, target not multicast, S clear if
    /// sent to a multicast address): its target link-layer address option
    /// (`tlla`), its Ethernet source (`src`), and its solicited (S) and
    /// override (O) flags. The router flag does not matter: the off-link next
    /// hop is configured, not learned.
    HeardNa {
        nic: Nic,
        ip: Ipv6Addr,
        tlla: Option<Mac>,
        src: Mac,
        solicited: bool,
        overrides: bool,
    },
    /// Heard an MLD query on `nic` that concerns our groups there
    /// (`wire::mld::parse_query`): the announcer answers it
    /// (`Announcer::queried`). Not the table's.
    MldQuery {
        nic: Nic,
        query: crate::wire::mld::Query,
    },
}

/// A probe the control thread must send: the table builds no frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// An ARP request for `ip` from our address on `nic`: unicast to `to`
    /// (refresh, verification), or broadcast when `None`.
    Arp { nic: Nic, ip: u32, to: Option<Mac> },
    /// A neighbor solicitation for target `ip` from our address on `nic`,
    /// with our source link-layer option: unicast to `to` (and to `ip`
    /// itself), or to `ip`'s solicited-node group when `None`
    /// ([`solicitation_dest`]).
    Ns {
        nic: Nic,
        ip: Ipv6Addr,
        to: Option<Mac>,
    },
}

impl Probe {
    pub fn nic(&self) -> Nic {
        match *self {
            Probe::Arp { nic, .. } | Probe::Ns { nic, .. } => nic,
        }
    }

    /// The MAC a unicast probe goes to; `None` for a broadcast or multicast one.
    pub fn to(&self) -> Option<Mac> {
        match *self {
            Probe::Arp { to, .. } | Probe::Ns { to, .. } => to,
        }
    }
}

/// A reachable time drawn from `rnd` (a random number): uniform, to the
/// millisecond, in `[BASE_REACHABLE / 2, 3 * BASE_REACHABLE / 2)`, as the
/// kernel's `neigh_rand_reach_time` (`net/core/neighbour.c`) draws it, so
/// that the refreshes of many hosts' entries do not fall in step.
pub fn rand_reach(rnd: u64) -> Duration {
    let base = BASE_REACHABLE.as_millis() as u64;
    Duration::from_millis(base / 2 + rnd % base)
}

/// The neighbor table, owned by the control thread: one set of entries per
/// family, the same rules for both.
#[derive(Debug)]
pub struct NeighTable {
    v4: Family<u32>,
    v6: Family<Ipv6Addr>,
    /// Neighbors whose MAC changed after their old MAC stayed silent (both
    /// families).
    pub moved: u64,
    /// Claims from another MAC that the old MAC refuted by answering (both
    /// families).
    pub refuted: u64,
    /// Asks for a new neighbor on the external NIC refused because its
    /// family's table was full ([`GC_THRESH3`] entries once the unneeded
    /// ones were forced out).
    pub refused: u64,
    /// A xorshift64 generator's state (never 0): the reachable times.
    rng: u64,
    /// When the reachable times were last drawn (the first tick's time
    /// until they are drawn again): Linux's `last_rand`.
    last_rand: Option<Instant>,
}

impl Default for NeighTable {
    fn default() -> Self {
        Self::new()
    }
}

impl NeighTable {
    /// A table whose reachable times come from a random seed (the standard
    /// library's per-process random hash keys): another run, other times.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self::with_seed(seed)
    }

    /// A table whose reachable times come from `seed`: the same seed, the
    /// same times (tests).
    pub fn with_seed(seed: u64) -> Self {
        let mut t = Self {
            v4: Family::default(),
            v6: Family::default(),
            moved: 0,
            refuted: 0,
            refused: 0,
            rng: seed | 1,
            last_rand: None,
        };
        t.draw_reach();
        t
    }

    fn rnd(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Each family's reachable time, drawn afresh ([`rand_reach`]).
    fn draw_reach(&mut self) {
        self.v4.reach = rand_reach(self.rnd());
        self.v6.reach = rand_reach(self.rnd());
    }

    /// The reachable time of `A`'s family (`u32` or `Ipv6Addr`) now: a
    /// confirmed entry's refresh is due that long after its confirmation.
    pub fn reachable_time<A: NeighAddr>(&self) -> Duration {
        A::reach_in(self)
    }

    /// Handle a worker's event at `now`; returns a probe to send right away, if any.
    pub fn event(&mut self, ev: NeighEvent, now: Instant) -> Option<Probe> {
        let probe = match ev {
            NeighEvent::Resolve { nic, ip } => self.v4.resolve(nic, ip, now),
            NeighEvent::Heard {
                nic,
                ip,
                mac,
                reply,
            } => self.v4.heard(nic, ip, mac, Claim::arp(reply), now),
            NeighEvent::Resolve6 { nic, ip } if ndp::is_neighbor(ip) => {
                self.v6.resolve(nic, ip, now)
            }
            NeighEvent::HeardNs { nic, ip, mac } if ndp::is_neighbor(ip) => {
                self.v6.heard(nic, ip, mac, ndp::SOLICITATION, now)
            }
            NeighEvent::HeardNa {
                nic,
                ip,
                tlla,
                src,
                solicited,
                overrides,
            } if ndp::is_neighbor(ip) => {
                let (mac, claim) = ndp::advertisement(tlla, src, solicited, overrides);
                self.v6.heard(nic, ip, mac, claim, now)
            }
            NeighEvent::Resolve6 { .. }
            | NeighEvent::HeardNs { .. }
            | NeighEvent::HeardNa { .. }
            | NeighEvent::MldQuery { .. } => None,
        };
        self.count();
        probe
    }

    /// Whether the director is a standby, told by the control thread before
    /// each pass's events and tick: a standby sends none of the probes the
    /// table asks for, so a claim for a known neighbor is not verified there
    /// (the entry waits in [`EntryState::Verifying`], its old MAC still
    /// published, counting no probe) and never adopted; made active, every
    /// verification starts from its first probe ([`MOVE_PROBES`] unicast
    /// probes of the old MAC, then the claimant if none was answered).
    pub fn set_standby(&mut self, standby: bool, now: Instant) {
        self.v4.set_standby(standby, now);
        self.v6.set_standby(standby, now);
    }

    /// The director turned standby during the pass (after the table was told
    /// it was active): the pass's `probes` are not sent, and the table is
    /// told, so that the verifications they counted start again from their
    /// first probe once the director is active, even if it is active again
    /// by the next pass.
    pub fn withhold(&mut self, now: Instant, probes: &mut Vec<Probe>) {
        probes.clear();
        self.set_standby(true, now);
    }

    /// The probe `p` the table asked for did not go (the control thread's TX
    /// ring had no slot): it is not counted, so the entry's next probe is
    /// still the same one, and a claimant is adopted only after
    /// [`MOVE_PROBES`] probes of the old MAC that went unanswered.
    pub fn unsent(&mut self, p: Probe) {
        match p {
            Probe::Arp { nic, ip, to } => self.v4.unsent(nic, ip, to),
            Probe::Ns { nic, ip, to } => self.v6.unsent(nic, ip, to),
        }
    }

    /// Advance time: retransmit, refresh, and expire. Returns the probes to send.
    pub fn tick(&mut self, now: Instant, probes: &mut Vec<Probe>) {
        // Drawn again every `REACH_REDRAW`, as `neigh_periodic_work` does.
        match self.last_rand {
            None => self.last_rand = Some(now),
            Some(t) if now > t + REACH_REDRAW => {
                self.last_rand = Some(now);
                self.draw_reach();
            }
            Some(_) => {}
        }
        self.v4.tick(now, probes);
        self.v6.tick(now, probes);
        self.count();
    }

    /// Reads the workers' marks of the entries traffic used since the last
    /// call and lowers them: those entries are used at `now` (a stale one
    /// starts being verified). The control thread calls it before each
    /// [`NeighTable::tick`].
    pub fn note_use(&mut self, used: &Used, now: Instant) {
        let raised = used.take();
        self.v4.note_use(&raised, now);
        self.v6.note_use(&raised, now);
    }

    fn count(&mut self) {
        self.moved = self.v4.moved + self.v6.moved;
        self.refuted = self.v4.refuted + self.v6.refuted;
        self.refused = self.v4.refused + self.v6.refused;
    }

    /// Resolve `ip` at `mac` as the control thread does (a probe, then its
    /// answer), at `now`.
    pub fn learn<A: NeighAddr>(&mut self, nic: Nic, ip: A, mac: Mac, now: Instant) {
        self.event(A::resolve(nic, ip), now);
        self.event(A::answer(nic, ip, mac), now);
    }

    /// A table that resolved `hosts` (NIC, address, MAC) at `now` as the
    /// control thread does (a probe, then its reply): the neighbors of
    /// benchmarks and test fixtures, learned through the real state machine.
    pub fn learned(hosts: impl IntoIterator<Item = (Nic, Ipv4Addr, Mac)>, now: Instant) -> Self {
        let mut t = Self::new();
        for (nic, ip, mac) in hosts {
            t.learn(nic, u32::from(ip), mac, now);
        }
        t
    }

    /// A new snapshot if anything a worker can see changed since the last call.
    pub fn take_snapshot(&mut self) -> Option<NeighSnapshot> {
        let dirty = std::mem::take(&mut self.v4.dirty) | std::mem::take(&mut self.v6.dirty);
        if !dirty {
            return None;
        }
        let mut snap = NeighSnapshot::default();
        self.v4.publish(&mut snap.v4);
        self.v6.publish(&mut snap.v6);
        Some(snap)
    }

    /// The entry of `ip` (`u32` or `Ipv6Addr`) on `nic`.
    pub fn state<A: NeighAddr>(&self, nic: Nic, ip: A) -> Option<EntryState> {
        A::state_in(self, nic, ip)
    }

    /// Every entry of both families, for listings.
    pub fn entries(&self) -> impl Iterator<Item = (Nic, IpAddr, EntryState)> + '_ {
        let v4 = self
            .v4
            .entries()
            .map(|(n, ip, e)| (n, Ipv4Addr::from(ip).into(), e));
        let v6 = self.v6.entries().map(|(n, ip, e)| (n, ip.into(), e));
        v4.chain(v6)
    }
}
