//! Neighbor resolution, the control thread's main loop once the director runs:
//! it feeds what the workers report (`NeighEvent`) to the neighbor table,
//! sends the probes the table asks for (ARP requests, neighbor
//! solicitations), announces our addresses and new VIPs (gratuitous ARP,
//! unsolicited neighbor advertisements) when `neigh::Announcer` says so, and
//! publishes the table's snapshot to the workers. It also watches the
//! workers: the director stops when one does.

use super::Ctl;
use super::adm::vips;
use crate::Nic;
use crate::dataplane::{ROUTER_FLAG, Shared};
use crate::io::TxQueue;
use crate::io::nic;
use crate::io::ring::TxRing;
use crate::neigh::{Announce, Announcer, NeighEvent, NeighTable, Probe};
use crate::stats::{Counters, Ctr};
use crate::wire::{Mac, arp, mld, ndp};
use crossbeam_channel::Receiver;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The control thread's ARP and NDP: its sockets, addresses and queues.
pub(super) struct Resolver {
    /// The control thread's own TX rings on ext and int (AF_PACKET whatever
    /// the workers use).
    pub(super) tx: [TxRing; 2],
    /// Our MAC address on ext and int.
    pub(super) macs: [Mac; 2],
    /// The NICs' names, ext and int: their kernel link-local addresses,
    /// the MLD reports' source, are read by name when a report goes.
    pub(super) names: [String; 2],
    /// Our IPv4 address on ext and int (the DIP).
    pub(super) own: [Ipv4Addr; 2],
    /// Our IPv6 address on ext and int, if the NIC has one: the source of
    /// neighbor solicitations, and announced like the IPv4 ones. No IPv6
    /// probe goes out of a NIC without one.
    pub(super) own6: [Option<Ipv6Addr>; 2],
    /// What the workers (and health checks) report: neighbors to resolve, ARP
    /// and NDP seen.
    pub(super) events: Receiver<NeighEvent>,
    /// New VIPs to announce (`Ctl::changed`): gratuitous ARP or an
    /// unsolicited neighbor advertisement.
    pub(super) garp: Receiver<IpAddr>,
    /// The NICs' MTUs, watched.
    pub(super) mtu: super::mtu::MtuWatch,
}

/// New VIPs taken from the queue per pass of the control thread: their
/// announcements (an IPv6 VIP's with an MLD report) go into a TX ring of
/// 256 slots a NIC, which frees a slot once the NIC sent its frame.
const VIPS_PER_PASS: usize = 64;

/// The largest NDP frame the control thread sends: Ethernet, IPv6, a
/// solicitation or advertisement and one link-layer address option (86
/// bytes), rounded up.
pub(super) const NDP_FRAME: usize = 96;

impl Resolver {
    /// Announce `addrs` (gratuitous ARP, unsolicited NA) `times` times, a
    /// frame that found no TX slot counted in `drop_tx_full` ([`announce`]).
    fn announce(&mut self, addrs: &[(Nic, IpAddr)], times: usize, ctr: &mut Counters) {
        let (tx, macs) = (&mut self.tx, self.macs);
        announce(addrs, (macs, times), ctr, |nic, f| {
            tx[nic as usize].send_one(f)
        });
    }

    /// The probe the table asked for, out of its NIC: false if the TX ring
    /// had no slot for it (it did not go). A solicitation from a NIC
    /// without an IPv6 address is not sent, as said ([`Resolver::own6`]).
    fn probe(&mut self, p: Probe) -> bool {
        let i = p.nic() as usize;
        match p {
            Probe::Arp { ip, to, .. } => {
                let (f, len) = arp_frame(self.macs[i], self.own[i], Ipv4Addr::from(ip), to);
                self.tx[i].send_one(&f[..len])
            }
            Probe::Ns { nic, ip, to } => {
                if let Some(sip) = self.own6[i]
                    && let Some((f, len)) = neighbor_solicitation(nic, self.macs[i], sip, ip, to)
                {
                    return self.tx[i].send_one(&f[..len]);
                }
                true
            }
        }
    }

    /// One announcement; MLD reports counted in `ctr`, MLDv1 on the NICs
    /// `v1` says (by `Nic as usize`). A new VIP deleted since it was
    /// scheduled goes neither announced nor reported ([`announced`]).
    fn send(&mut self, ctl: &Ctl, what: Announce, v1: [bool; 2], ctr: &mut Counters) {
        let Some(addrs) = announced(ctl, what, (self.own, self.own6)) else {
            return;
        };
        self.announce(&addrs, what.times(), ctr);
        // The groups read now: an address gone meanwhile is not reported.
        for nic in [Nic::Ext, Nic::Int] {
            if matches!(what, Announce::Vip(IpAddr::V4(_)) | Announce::Own4) {
                break;
            }
            let groups = self.groups(ctl, nic);
            let (i, mac) = (nic as usize, self.macs[nic as usize]);
            // Read now: the kernel may have given the NIC its link-local
            // address since the last report, or taken it away.
            let src = nic::link_local6(&self.names[i]).unwrap_or(Ipv6Addr::UNSPECIFIED);
            send_mld(what, (nic, (mac, src), v1[i]), &groups, ctr, |f| {
                self.tx[i].send_one(f)
            });
        }
    }

    /// The solicited-node groups of our IPv6 addresses on `nic` (its own
    /// address; on the external NIC every IPv6 VIP too).
    fn groups(&self, ctl: &Ctl, nic: Nic) -> Vec<Ipv6Addr> {
        let i = nic as usize;
        let mut addrs: Vec<Ipv6Addr> = self.own6[i].into_iter().collect();
        if nic == Nic::Ext
            && let Ok(st) = ctl.adm.lock()
        {
            addrs.extend(vips(&st.cfg).into_iter().filter_map(|v| match v {
                IpAddr::V6(v) => Some(v),
                IpAddr::V4(_) => None,
            }));
        }
        mld::groups_of(addrs)
    }

    /// Resolve neighbors until `term` is set or a worker stops; returns the
    /// index of the worker that stopped, if one did.
    pub(super) fn run(
        &mut self,
        ctl: &Ctl,
        term: &AtomicBool,
        workers: &[JoinHandle<()>],
    ) -> Option<usize> {
        let shared: &Shared = &ctl.shared;
        let mut table = NeighTable::new();
        let mut probes: Vec<Probe> = Vec::new();
        let mut last_tick = Instant::now();
        let mut failed = None;
        let mut activations = shared.ha.activations();
        // Started active: the first rounds are due now (the start was an
        // activation `activations` already counts).
        let mut announcer = Announcer::starting(!shared.ha.standby(), last_tick);
        let mut due: Vec<Announce> = Vec::new();
        // The answers' random delays (RFC 3810 §6.2): xorshift64 from a
        // random seed; nobody gains from predicting them.
        let mut seed = seed();
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut queries = Vec::new();
        // The control thread's counters (`Ctr::CONTROL`), published after
        // each pass that sent something.
        let mut ctr = Counters::default();
        while !term.load(Ordering::Relaxed) {
            if let Some(k) = workers.iter().position(|t| t.is_finished()) {
                failed = Some(k);
                break;
            }
            let now = Instant::now();
            // Told before the events and the tick: on a standby the probes
            // are not sent, so the table counts none (a claim is not
            // verified, nor adopted, until the director is active).
            table.set_standby(shared.ha.standby(), now);
            let mut take = |ev: NeighEvent| match ev {
                NeighEvent::MldQuery { nic, query } => queries.push((nic, query)),
                ev => probes.extend(table.event(ev, now)),
            };
            match self.events.recv_timeout(Duration::from_millis(20)) {
                Ok(ev) => {
                    take(ev);
                    while let Ok(ev) = self.events.try_recv() {
                        take(ev);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
            self.mtu.check(shared, now);
            if now.duration_since(last_tick) >= Duration::from_millis(100) {
                last_tick = now;
                table.note_use(&shared.neigh_used, now);
                table.tick(now, &mut probes);
            }
            // The role: a standby sends no ARP nor NDP at all (its probes would
            // claim the DIP for its own MAC); made active (however briefly it
            // was standby), it announces every address on the announcer's
            // schedule. Read again: made standby since the table was told, its
            // probes are dropped here and the table is told so, so that it
            // restarts any verification from its first probe once active
            // again (`set_standby`), even if the role is back to active when
            // the next pass reads it.
            let standby = shared.ha.standby();
            let a = shared.ha.activations();
            if a != activations && !standby {
                activations = a;
                announcer.activated(now);
            }
            if standby {
                table.withhold(now, &mut probes);
                queries.clear();
                announcer.standby();
                while self.garp.try_recv().is_ok() {}
            } else {
                let lost = send_probes(&mut table, &mut probes, &mut ctr, |p| self.probe(p));
                take_new_vips(&self.garp, &mut announcer, now);
                for (nic, q) in queries.drain(..) {
                    let groups = self.groups(ctl, nic);
                    announcer.queried((nic, q), &groups, now, &mut rnd);
                }
                announcer.due(now, &mut due);
                let sent = !due.is_empty() || lost;
                let v1 = [Nic::Ext, Nic::Int].map(|nic| announcer.mld_v1(nic, now));
                // The workers read a query as this mode says (an MLDv2
                // query in MLDv1 mode is read as MLDv1).
                for (m, v) in shared.mld_v1.iter().zip(v1) {
                    m.store(v, Ordering::Relaxed);
                }
                for what in due.drain(..) {
                    self.send(ctl, what, v1, &mut ctr);
                }
                if sent {
                    shared.control.publish(&ctr);
                }
            }
            // Moves, refutations and refusals are counted on a standby too.
            if table_counters(&table, &mut ctr) {
                shared.control.publish(&ctr);
            }
            if let Some(snap) = table.take_snapshot() {
                shared.neigh.store(Arc::new(snap));
                shared.bump();
            }
        }
        failed
    }
}

/// The addresses `what` announces (gratuitous ARP, unsolicited NA), read
/// when it is due, not when it was scheduled (`neigh::Announcer`): a round
/// of ours takes the DIPs of its family on their NICs (`own`, by `Nic as
/// usize`) and the VIPs configured now on the external NIC; a new VIP is
/// `None` if it is no longer configured, so a VIP deleted within the 2 s of
/// its IPv6 advertisements (or before its gratuitous ARP went) is not
/// announced with the override flag after its deletion. Groups and answers
/// announce no address (`Some` of none: their MLD reports still go).
fn announced(
    ctl: &Ctl,
    what: Announce,
    own: ([Ipv4Addr; 2], [Option<Ipv6Addr>; 2]),
) -> Option<Vec<(Nic, IpAddr)>> {
    let configured = || ctl.adm.lock().map(|st| vips(&st.cfg)).unwrap_or_default();
    match what {
        Announce::Vip(v) => configured().contains(&v).then(|| vec![(Nic::Ext, v)]),
        Announce::Own4 | Announce::Own6 => {
            let v6 = what == Announce::Own6;
            let mut addrs = Vec::new();
            for nic in [Nic::Ext, Nic::Int] {
                let i = nic as usize;
                match (v6, own.1[i]) {
                    (false, _) => addrs.push((nic, IpAddr::V4(own.0[i]))),
                    (true, Some(ip)) => addrs.push((nic, IpAddr::V6(ip))),
                    (true, None) => {}
                }
            }
            let family = |v: &IpAddr| v.is_ipv6() == v6;
            addrs.extend(
                configured()
                    .into_iter()
                    .filter(family)
                    .map(|v| (Nic::Ext, v)),
            );
            Some(addrs)
        }
        Announce::Groups | Announce::Answer { .. } => Some(Vec::new()),
    }
}

/// Sends the `probes` the table asked for at `now` with `send` (false: the
/// TX ring had no slot), emptying it. A probe that did not go counts in
/// `drop_tx_full` and the table is told (`NeighTable::unsent`), so that it
/// is not counted as asked: a verification adopts a claimant only after
/// `neigh::MOVE_PROBES` probes of the old MAC that did go unanswered.
/// Returns whether one did not go.
fn send_probes(
    table: &mut NeighTable,
    probes: &mut Vec<Probe>,
    ctr: &mut Counters,
    mut send: impl FnMut(Probe) -> bool,
) -> bool {
    let mut lost = false;
    for p in probes.drain(..) {
        if !send(p) {
            ctr.inc(Ctr::DropTxFull);
            table.unsent(p);
            lost = true;
        }
    }
    lost
}

/// Brings the table's counts (`neigh_moved`, `neigh_refuted`,
/// `neigh_table_full`) into the control thread's counters `ctr`; returns
/// whether one changed.
fn table_counters(table: &NeighTable, ctr: &mut Counters) -> bool {
    let mut changed = false;
    for (c, n) in [
        (Ctr::NeighMoved, table.moved),
        (Ctr::NeighRefuted, table.refuted),
        (Ctr::NeighTableFull, table.refused),
    ] {
        let more = n.saturating_sub(ctr.get(c));
        ctr.add(c, more);
        changed |= more > 0;
    }
    changed
}

/// Schedule the announcement of the new VIPs `rx` holds, at most
/// [`VIPS_PER_PASS`] of them (the rest wait for the next pass, 20 ms on): a
/// `-R` adding hundreds has them announced over a few passes, not all into
/// the TX ring at once. Returns how many it took.
fn take_new_vips(rx: &Receiver<IpAddr>, announcer: &mut Announcer, now: Instant) -> usize {
    let mut n = 0;
    for v in rx.try_iter().take(VIPS_PER_PASS) {
        announcer.vip_added(v, now);
        n += 1;
    }
    n
}

/// Announce each of `addrs` on its NIC `times` times over, every address
/// once per round, as keepalived's `vrrp_send_link_update` loops (every
/// address, `garp_master_repeat` times): a gratuitous ARP for an IPv4
/// address, an unsolicited neighbor advertisement for an IPv6 one, from
/// `macs` (by `Nic as usize`). A frame `send` finds no TX slot for counts in
/// `drop_tx_full` (keepalived's go through the qdisc; the control thread's
/// ring holds 256 frames a NIC, `control::startup`).
pub fn announce(
    addrs: &[(Nic, IpAddr)],
    (macs, times): ([Mac; 2], usize),
    ctr: &mut Counters,
    mut send: impl FnMut(Nic, &[u8]) -> bool,
) {
    for _ in 0..times {
        for &(nic, ip) in addrs {
            let mac = macs[nic as usize];
            let went = match ip {
                IpAddr::V4(ip) => {
                    let (f, len) = arp_frame(mac, ip, ip, None);
                    send(nic, &f[..len])
                }
                IpAddr::V6(ip) => match unsolicited_advertisement(nic, mac, ip) {
                    Some((f, len)) => send(nic, &f[..len]),
                    None => true,
                },
            };
            if !went {
                ctr.inc(Ctr::DropTxFull);
            }
        }
    }
}

/// The MLD reports `what` asks for on `nic` (none if it asks for none
/// there), of our `groups` there, from `mac` and `src` (the NIC's
/// link-local address, `::` while it has none: `io::nic::link_local6`),
/// each frame given to `send`
/// and counted in `ctr` (`mld_report`): the unsolicited ones of a round of
/// advertisements (`CHANGE_TO_EXCLUDE`, a join) or of a new IPv6 VIP (on
/// the external NIC), the periodic ones (current state), or an answer
/// (`wire::mld::answer`). With `v1` (`nic` in MLDv1 compatibility mode,
/// [`Announcer::mld_v1`]) the unsolicited and periodic ones are MLDv1
/// reports, one per group, as the kernel's `igmp6_join_group` sends them
/// then; an answer says its own version. What the control thread sends
/// (and the tests replay).
pub fn send_mld(
    what: Announce,
    (nic, from, v1): (Nic, (Mac, Ipv6Addr), bool),
    groups: &[Ipv6Addr],
    ctr: &mut Counters,
    mut send: impl FnMut(&[u8]) -> bool,
) {
    use mld::record::{CHANGE_TO_EXCLUDE, MODE_IS_EXCLUDE};
    // Counted as they go: a frame the TX ring had no room for is not sent.
    let mut went = 0;
    let send = |f: &[u8]| went += u64::from(send(f));
    match what {
        Announce::Own6 => mld::report(from, (CHANGE_TO_EXCLUDE, v1), groups, send),
        Announce::Vip(IpAddr::V6(_)) if nic == Nic::Ext => {
            mld::report(from, (CHANGE_TO_EXCLUDE, v1), groups, send)
        }
        Announce::Groups => mld::report(from, (MODE_IS_EXCLUDE, v1), groups, send),
        Announce::Answer { nic: on, group, v1 } if on == nic => {
            mld::answer(from, (group, v1), groups, send)
        }
        _ => 0,
    };
    ctr.add(Ctr::MldReport, went);
}

/// A random seed (the standard library's per-process random hash keys),
/// never 0 (xorshift's fixed point).
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        | 1
}

/// An ARP frame from the director: a request for `probe`, or gratuitous for `ip`.
fn arp_frame(mac: Mac, sip: Ipv4Addr, tip: Ipv4Addr, to: Option<Mac>) -> ([u8; 64], usize) {
    let mut buf = [0u8; 64];
    let len = arp::emit_arp(
        &mut buf,
        arp::operation::REQUEST,
        mac,
        sip,
        Mac([0; 6]),
        tip,
        to.unwrap_or(Mac::BROADCAST),
    );
    (buf, len.max(arp::PADDED_LEN))
}

/// The neighbor solicitation for `target` that a [`Probe::Ns`] asks for, out
/// of `nic` from `mac` and `sip` with our source link-layer option, to the
/// target's solicited-node group, or unicast to `to` and the target itself
/// (`neigh::solicitation_dest` gives both destinations).
pub(super) fn neighbor_solicitation(
    _nic: Nic,
    mac: Mac,
    sip: Ipv6Addr,
    target: Ipv6Addr,
    to: Option<Mac>,
) -> Option<([u8; NDP_FRAME], usize)> {
    let mut buf = [0u8; NDP_FRAME];
    let len = ndp::emit_solicit(&mut buf, (mac, sip), target, to)?;
    Some((buf, len))
}

/// The unsolicited neighbor advertisement announcing `ip` at `mac` out of
/// `nic`: from `ip` to all nodes (`neigh::ALL_NODES`, Ethernet
/// 33:33:00:00:00:01), target `ip`, O set, S clear, with the target
/// link-layer option (RFC 4861 §7.2.6), and R as in every advertisement of
/// the director ([`ROUTER_FLAG`]).
pub(super) fn unsolicited_advertisement(
    _nic: Nic,
    mac: Mac,
    ip: Ipv6Addr,
) -> Option<([u8; NDP_FRAME], usize)> {
    let mut buf = [0u8; NDP_FRAME];
    let len = ndp::emit_advert(&mut buf, mac, ip, None, ROUTER_FLAG)?;
    Some((buf, len))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// New VIPs are taken 64 a pass: 300 added by one `-R` are announced
    /// over 5 passes (100 ms), not written into the 256-slot ring at once.
    #[test]
    fn new_vips_are_taken_a_pass_at_a_time() {
        let (tx, rx) = crossbeam_channel::unbounded();
        for i in 0..300u32 {
            tx.send(IpAddr::from(Ipv4Addr::from(0xc612_0100 + i)))
                .unwrap();
        }
        let now = Instant::now();
        let mut a = Announcer::starting(true, now);
        let takes: Vec<usize> = (0..6).map(|_| take_new_vips(&rx, &mut a, now)).collect();
        assert_eq!(takes, [64, 64, 64, 64, 44, 0]);
    }

    /// A takeover's announcement goes 5 rounds over, every address once per
    /// round (keepalived's `vrrp_send_link_update`), each frame for its own
    /// NIC and address; a frame the ring has no slot for counts in
    /// `drop_tx_full` (the ring frees a slot only once the NIC sent it).
    #[test]
    fn an_announcement_repeats_every_address_and_counts_what_found_no_slot() {
        let macs = [Mac([2, 0, 0, 0, 0, 1]), Mac([2, 0, 0, 0, 0, 2])];
        let mut addrs = vec![
            (Nic::Ext, IpAddr::from([198, 18, 0, 1])),
            (Nic::Int, IpAddr::from([198, 19, 0, 1])),
            (Nic::Ext, IpAddr::V6(OURS)),
        ];
        addrs.extend((0..10).map(|i| (Nic::Ext, IpAddr::from([198, 18, 1, i]))));
        // The address a frame announces: an NA's target, an ARP's sender.
        let target = |f: &[u8]| -> IpAddr {
            if f[12..14] == [0x86, 0xdd] {
                match read(f).3 {
                    Ndp::Advert { target, .. } => IpAddr::V6(target),
                    other => panic!("not an advertisement: {other:?}"),
                }
            } else {
                assert_eq!(f[12..14], [0x08, 0x06], "ARP");
                IpAddr::from([f[28], f[29], f[30], f[31]])
            }
        };
        let mut ctr = Counters::default();
        let mut sent: Vec<(Nic, IpAddr)> = Vec::new();
        announce(&addrs, (macs, 5), &mut ctr, |nic, f| {
            sent.push((nic, target(f)));
            true
        });
        assert_eq!(sent.len(), 5 * addrs.len());
        for round in sent.chunks(addrs.len()) {
            assert_eq!(round, &addrs[..], "every address once a round, in order");
        }
        assert_eq!(ctr.get(Ctr::DropTxFull), 0);
        // A ring of 32 slots that frees none.
        let mut room = 32;
        announce(&addrs, (macs, 5), &mut ctr, |_, _| {
            let ok = room > 0;
            room -= usize::from(ok);
            ok
        });
        assert_eq!(ctr.get(Ctr::DropTxFull), (5 * addrs.len() - 32) as u64);
    }

    /// A probe the control thread's ring had no slot for is not counted as
    /// asked: a claim against a known neighbor is not adopted while none of
    /// the probes of the old MAC goes (each counted in `drop_tx_full`),
    /// and is adopted `MOVE_PROBES` sent probes after the ring takes them.
    #[test]
    fn a_probe_that_found_no_slot_is_not_counted_as_asked() {
        use crate::neigh::{EntryState, MOVE_PROBES, MOVE_RETRANS};
        let rs = u32::from_be_bytes([198, 19, 0, 2]);
        let (old, new) = (Mac([2, 0, 0, 0, 0, 2]), Mac([2, 0, 0, 0, 0, 3]));
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        t.learn(Nic::Int, rs, old, t0);
        let claim = NeighEvent::Heard {
            nic: Nic::Int,
            ip: rs,
            mac: new,
            reply: false,
        };
        let mut probes: Vec<Probe> = t.event(claim, t0).into_iter().collect();
        let mut ctr = Counters::default();
        let mut went = 0;
        // Every 50 ms for 2 s, a ring that refuses every frame.
        for k in 1..=40u32 {
            send_probes(&mut t, &mut probes, &mut ctr, |_| false);
            t.tick(t0 + Duration::from_millis(50) * k, &mut probes);
        }
        let asked = ctr.get(Ctr::DropTxFull);
        assert!(asked >= 5, "probes kept being asked for: {asked}");
        assert!(
            matches!(t.state(Nic::Int, rs), Some(EntryState::Verifying { mac, .. }) if mac == old),
            "{:?}",
            t.state(Nic::Int, rs)
        );
        assert_eq!(t.moved, 0);
        // The ring takes them: adopted once MOVE_PROBES went unanswered.
        let t1 = t0 + Duration::from_secs(2);
        let mut adopted = None;
        for k in 1..=40u32 {
            assert!(!send_probes(&mut t, &mut probes, &mut ctr, |p| {
                assert_eq!(p.to(), Some(old), "the old MAC asked");
                went += 1;
                true
            }));
            let now = t1 + Duration::from_millis(50) * k;
            t.tick(now, &mut probes);
            if t.moved == 1 {
                adopted.get_or_insert(now - t1);
            }
        }
        assert_eq!(went, u32::from(MOVE_PROBES));
        assert!(
            adopted.is_some_and(|d| d >= MOVE_RETRANS * 2),
            "{adopted:?}"
        );
        assert_eq!(ctr.get(Ctr::DropTxFull), asked, "nothing lost since");
        assert!(table_counters(&t, &mut ctr));
        assert_eq!(ctr.get(Ctr::NeighMoved), 1);
        assert!(!table_counters(&t, &mut ctr), "counted once");
    }

    /// A refuted claim and a refused ask are exported as such, apart from
    /// an adopted one (`neigh_refuted`, `neigh_table_full`).
    #[test]
    fn refutations_and_refusals_are_counted() {
        use crate::neigh::GC_THRESH3;
        let rs = u32::from_be_bytes([198, 19, 0, 2]);
        let (old, new) = (Mac([2, 0, 0, 0, 0, 2]), Mac([2, 0, 0, 0, 0, 3]));
        let t0 = Instant::now();
        let mut t = NeighTable::new();
        t.learn(Nic::Int, rs, old, t0);
        let heard = |mac| NeighEvent::Heard {
            nic: Nic::Int,
            ip: rs,
            mac,
            reply: false,
        };
        t.event(heard(new), t0);
        t.event(heard(old), t0);
        for i in 0..GC_THRESH3 as u32 + 10 {
            t.event(
                NeighEvent::Resolve {
                    nic: Nic::Ext,
                    ip: 0xc612_0000 + i,
                },
                t0,
            );
        }
        let mut ctr = Counters::default();
        assert!(table_counters(&t, &mut ctr));
        assert_eq!(
            [Ctr::NeighMoved, Ctr::NeighRefuted, Ctr::NeighTableFull].map(|c| ctr.get(c)),
            [0, 1, 11]
        );
        assert!(Ctr::CONTROL.contains(&Ctr::NeighTableFull));
    }

    /// A new IPv6 VIP deleted after the first of its three unsolicited
    /// advertisements (RFC 4861 §7.2.6, 1 s apart) is not announced again,
    /// with the override flag, for an address no longer ours; nor is a new
    /// IPv4 VIP deleted before its gratuitous ARP goes.
    #[test]
    fn a_vip_deleted_meanwhile_is_not_announced_again() {
        let (c, garp) = crate::control::test_ctl(1);
        let adm = |line: &str| {
            let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
            assert_eq!(c.adm(&argv).code, 0, "{line}");
        };
        let v6 = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x10);
        adm("-A -t [2001:2::10]:80 -s rr");
        let t0 = Instant::now();
        let mut a = Announcer::starting(false, t0);
        assert_eq!(take_new_vips(&garp, &mut a, t0), 1);
        let own = (
            [Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 19, 0, 1)],
            [None; 2],
        );
        let macs = [MAC, CLIENT_MAC];
        // What goes at `now`: the targets of the advertisements sent.
        let mut due = Vec::new();
        let mut pass = |a: &mut Announcer, now: Instant| -> Vec<IpAddr> {
            a.due(now, &mut due);
            let mut sent = Vec::new();
            for what in due.drain(..) {
                let Some(addrs) = announced(&c, what, own) else {
                    continue;
                };
                announce(
                    &addrs,
                    (macs, what.times()),
                    &mut Counters::default(),
                    |_, f| {
                        if f[12..14] == [0x86, 0xdd]
                            && let Ndp::Advert { target, flags, .. } = read(f).3
                        {
                            assert_ne!(flags & flags::OVERRIDE, 0);
                            sent.push(IpAddr::V6(target));
                        }
                        true
                    },
                );
            }
            sent
        };
        assert_eq!(pass(&mut a, t0), [IpAddr::V6(v6)]);
        adm("-D -t [2001:2::10]:80");
        for s in 1..=3 {
            assert_eq!(
                pass(&mut a, t0 + Duration::from_secs(s)),
                Vec::<IpAddr>::new(),
                "at +{s} s"
            );
        }
        // Still configured, the three rounds go.
        adm("-A -t [2001:2::10]:80 -s rr");
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(take_new_vips(&garp, &mut a, t1), 1);
        let n: usize = (0..=3)
            .map(|s| pass(&mut a, t1 + Duration::from_secs(s)).len())
            .sum();
        assert_eq!(n, 3);
        // An IPv4 VIP deleted before its gratuitous ARP is due.
        adm("-A -t 198.18.0.10:80 -s rr");
        adm("-D -t 198.18.0.10:80");
        assert_eq!(take_new_vips(&garp, &mut a, t1), 1);
        let vip4 = IpAddr::from([198, 18, 0, 10]);
        assert_eq!(announced(&c, Announce::Vip(vip4), own), None);
        adm("-A -t 198.18.0.10:80 -s rr");
        assert_eq!(
            announced(&c, Announce::Vip(vip4), own),
            Some(vec![(Nic::Ext, vip4)])
        );
    }
    use crate::wire::ndp::{Ndp, flags};
    use crate::wire::{EthernetFrame, Ipv6Packet, ipv6};

    const MAC: Mac = Mac([0x02, 0xee, 0, 0, 0, 0x02]);
    const OURS: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 2);
    const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
    const CLIENT_MAC: Mac = Mac([0x02, 0xcc, 0, 0, 0, 1]);

    /// The frame's Ethernet destination, IPv6 source and destination, and
    /// its neighbor message as `wire::ndp` checks it on receipt.
    fn read(frame: &[u8]) -> (Mac, Ipv6Addr, Ipv6Addr, Ndp) {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.total_len() + 14, frame.len());
        (eth.dst(), ip.src(), ip.dst(), ndp::parse(&ip).unwrap())
    }

    #[test]
    fn solicitations_go_to_the_group_or_to_the_neighbor() {
        let (f, len) = neighbor_solicitation(Nic::Ext, MAC, OURS, CLIENT, None).unwrap();
        let group = ipv6::solicited_node(CLIENT);
        let want = Ndp::Solicit {
            target: CLIENT,
            src_ll: Some(MAC),
        };
        assert_eq!(
            read(&f[..len]),
            (ipv6::multicast_mac(group), OURS, group, want)
        );
        // As `neigh::solicitation_dest` says for both cases.
        assert_eq!(
            crate::neigh::solicitation_dest(CLIENT, None),
            (group, ipv6::multicast_mac(group))
        );
        let (f, len) =
            neighbor_solicitation(Nic::Ext, MAC, OURS, CLIENT, Some(CLIENT_MAC)).unwrap();
        assert_eq!(read(&f[..len]), (CLIENT_MAC, OURS, CLIENT, want));
        assert_eq!(
            crate::neigh::solicitation_dest(CLIENT, Some(CLIENT_MAC)),
            (CLIENT, CLIENT_MAC)
        );
    }

    #[test]
    fn unsolicited_advertisements_override_and_go_to_all_nodes() {
        let (f, len) = unsolicited_advertisement(Nic::Ext, MAC, OURS).unwrap();
        let all = crate::neigh::ALL_NODES;
        assert_eq!(
            read(&f[..len]),
            (
                ipv6::multicast_mac(all),
                OURS,
                all,
                Ndp::Advert {
                    target: OURS,
                    flags: flags::OVERRIDE | flags::ROUTER,
                    target_ll: Some(MAC),
                }
            )
        );
    }
}
