//! When the director announces its addresses: gratuitous ARP for IPv4,
//! unsolicited neighbor advertisements for IPv6. Pure data the control thread
//! acts on (it is told the time; it says what is due), so the schedule is
//! tested without sockets.
//!
//! * Becoming active (and starting active) announces every address of ours
//!   in both families: the DIPs on their NICs and every VIP on the external
//!   one, so that neighbors that cached the other director's MAC switch.
//!   Gratuitous ARP goes as keepalived sends it on becoming master with its
//!   defaults: [`GARP_REP`] (5) per address at once, and [`GARP_REP`] again
//!   5 s later ([`GARP_AT`]; keepalived's `vrrp_state_become_master` and
//!   `vrrp_gratuitous_arp_thread` → `vrrp_send_link_update`, with
//!   `garp_master_repeat` 5 and `garp_master_delay` 5 s, `VRRP_GARP_REP`
//!   and `VRRP_GARP_DELAY`), so that a burst lost to a link still settling
//!   is made up. Unsolicited advertisements go [`NA_AT`]: RFC 4861 §7.2.6
//!   allows up to MAX_NEIGHBOR_ADVERTISEMENT (3) of them, RetransTimer (1 s)
//!   apart, where keepalived sends them as its gratuitous ARP (5 at once,
//!   5 more 5 s later: `ndisc_send_unsolicited_na` in the same loop), a
//!   deliberate difference. They go
//!   to all nodes (ff02::1, [`super::ALL_NODES`]) with the target link-layer
//!   option, O set and S clear, so that RFC 4861 neighbors replace a cached
//!   MAC (§7.2.5).
//! * A VIP added while active is announced on its own: IPv4 once
//!   ([`GARP_VIP_AT`], as before IPv6), IPv6 on the [`NA_AT`] schedule.
//! * IPv6 addresses are also reported to the link's snooping switches as
//!   MLDv2 listeners of their solicited-node groups (`wire::mld`): with
//!   every round of unsolicited advertisements of ours or of a new VIP, and
//!   then every [`GROUPS_EVERY`] while active ([`Announce::Groups`]), so
//!   that a switch keeps the memberships past its listener interval (260 s
//!   by RFC 3810's defaults) even where no querier asks (a snooping switch
//!   without one learns from unsolicited reports alone; the kernel sends
//!   none periodically, a deliberate difference).
//! * MLD queries (`wire::mld::parse_query`, heard by the workers) are
//!   answered as RFC 3810 §6.2 says and the kernel does (`net/ipv6/mcast.c`:
//!   `__mld_query_work`, `mld_gq_start_work`, `igmp6_group_queried`): at a
//!   random moment within the query's Maximum Response Delay, not at once
//!   ([`Announcer::queried`], [`Announce::Answer`]). One answer per NIC to
//!   a general query (a pending one sooner stands, a later one is brought
//!   forward), one per group to a query about it (the sooner of two
//!   stands; none while a general answer is due sooner); an MLDv1 general
//!   query, one per group, each at its own moment, as the kernel answers in
//!   MLDv1 mode. An MLDv1 query puts its NIC in MLDv1 compatibility mode
//!   for the Older Version Querier Present Timeout (RFC 3810 §8.2.1, the
//!   kernel's `mld_set_v1_mode`), during which every report there goes as
//!   MLDv1 ([`Announcer::mld_v1`]).
//! * A standby announces nothing, and forgets what was due: its addresses are
//!   the active director's.
//!
//! Which addresses "every address of ours" means is read when an
//! announcement is due, not when it is scheduled: a VIP deleted meanwhile is
//! not announced again.

use crate::Nic;
use crate::wire::mld::{self, Query};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// The rounds of gratuitous ARP after becoming active: at once, and again
/// after keepalived's `garp_master_delay` (5 s), each of [`GARP_REP`]
/// gratuitous ARPs per address.
pub const GARP_AT: [Duration; 2] = [Duration::ZERO, Duration::from_secs(5)];
/// Gratuitous ARPs per address in each round of [`GARP_AT`], back to back:
/// keepalived's `garp_master_repeat` default (`VRRP_GARP_REP`, 5).
pub const GARP_REP: usize = 5;
/// Gratuitous ARP for a VIP added while active.
pub const GARP_VIP_AT: [Duration; 1] = [Duration::ZERO];
/// Unsolicited neighbor advertisements, after becoming active and for a new
/// VIP (RFC 4861 §7.2.6).
pub const NA_AT: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// How often an active director reports its IPv6 groups again: under
/// RFC 3810's query interval (125 s), so a snooping switch that expires a
/// group after its listener interval (260 s) never does, querier or not.
pub const GROUPS_EVERY: Duration = Duration::from_secs(60);

/// What to announce now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announce {
    /// Every IPv4 address of ours (DIPs on their NICs, VIPs on the external
    /// NIC), by gratuitous ARP.
    Own4,
    /// Every IPv6 address of ours, by unsolicited neighbor advertisement.
    Own6,
    /// One VIP on the external NIC, by the means of its family.
    Vip(IpAddr),
    /// The solicited-node groups of every IPv6 address of ours, by MLDv2
    /// report (the periodic refresh; [`Announce::Own6`] and an IPv6
    /// [`Announce::Vip`] report them too).
    Groups,
    /// The answer to an MLD query heard on `nic`: about `group` (`None`:
    /// every group of ours there), in MLD version 1 if `v1`
    /// (`wire::mld::answer`).
    Answer {
        nic: Nic,
        group: Option<Ipv6Addr>,
        v1: bool,
    },
}

impl Announce {
    /// How many times each address goes in this announcement, back to back:
    /// [`GARP_REP`] for a round of [`Announce::Own4`], once otherwise.
    pub fn times(self) -> usize {
        match self {
            Announce::Own4 => GARP_REP,
            _ => 1,
        }
    }
}

/// An answer to an MLD query, due at its moment.
#[derive(Clone, Copy, Debug)]
struct Pending {
    at: Instant,
    nic: Nic,
    group: Option<Ipv6Addr>,
}

/// What a NIC's MLD querier told us, as the kernel keeps it per interface
/// (`struct inet6_dev`: `mc_qrv`, `mc_qi`, `mc_qri`, `mc_v1_seen`): the
/// robustness variable, query interval and query response interval of
/// its last MLDv2 query (RFC 3810 §9.1-9.3: 2, 125 s and 10 s until one
/// comes), and until when an MLDv1 querier is taken to be present (RFC
/// 3810 §8.2.1, §9.12).
#[derive(Clone, Copy, Debug)]
struct Querier {
    qrv: u32,
    qi: Duration,
    qri: Duration,
    v1_until: Option<Instant>,
}

impl Default for Querier {
    fn default() -> Self {
        Self {
            qrv: 2,
            qi: Duration::from_secs(125),
            qri: Duration::from_secs(10),
            v1_until: None,
        }
    }
}

/// The longest Maximum Response Delay of an MLDv2 query read as MLDv1's
/// (in MLDv1 compatibility mode): the kernel's `MLDV1_MRD_MAX_COMPAT`.
const V1_MAX_DELAY: Duration = Duration::from_millis(0x7fff);

/// The announcements still to come.
#[derive(Debug, Default)]
pub struct Announcer {
    due: Vec<(Instant, Announce)>,
    /// When the groups are reported again, while active.
    groups: Option<Instant>,
    /// Answers to MLD queries still to go.
    answers: Vec<Pending>,
    /// Each NIC's querier (by `Nic as usize`).
    querier: [Querier; 2],
}

impl Announcer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The announcer of a director starting at `now`, `active` or a
    /// standby: started active, it announces as on becoming active (every
    /// round, not one: right after the rings open is when a round is most
    /// likely lost, to a link coming up).
    pub fn starting(active: bool, now: Instant) -> Self {
        let mut a = Self::new();
        if active {
            a.activated(now);
        }
        a
    }

    /// The director became active at `now`: every address, in both
    /// families, on their schedules. What was still due is replaced (it is
    /// included).
    pub fn activated(&mut self, now: Instant) {
        self.due.clear();
        self.schedule(now, &GARP_AT, Announce::Own4);
        self.schedule(now, &NA_AT, Announce::Own6);
        self.groups = Some(now + GROUPS_EVERY);
    }

    /// A VIP was added at `now` while active.
    pub fn vip_added(&mut self, vip: IpAddr, now: Instant) {
        let at: &[Duration] = match vip {
            IpAddr::V4(_) => &GARP_VIP_AT,
            IpAddr::V6(_) => &NA_AT,
        };
        self.schedule(now, at, Announce::Vip(vip));
    }

    /// The director is a standby: nothing is announced.
    pub fn standby(&mut self) {
        self.due.clear();
        self.groups = None;
        self.answers.clear();
    }

    /// An MLD query `q` heard on `nic` at `now`, where our groups are
    /// `groups`: its answer is scheduled at a moment `rnd` draws within its
    /// Maximum Response Delay (RFC 3810 §6.2; the kernel draws below it, at
    /// least a jiffy: `get_random_u32_below`), merged with those already
    /// due (module doc). A query about a group not in `groups` gets none.
    ///
    /// MLDv1 compatibility (RFC 3810 §8.2.1, the kernel's `mld_process_v1`,
    /// `mld_set_v1_mode`): an MLDv1 query puts `nic` in MLDv1 mode for the
    /// Older Version Querier Present Timeout (robustness times query
    /// interval, plus query response interval, as the last MLDv2 query
    /// gave them), and drops a pending MLDv2 general answer there
    /// (`mld_gq_stop_work`). In
    /// that mode an MLDv2 query is taken as an MLDv1 one (its delay at
    /// most [`V1_MAX_DELAY`], its timers left alone) and every report goes
    /// as MLDv1 ([`Announcer::mld_v1`]); out of it, an MLDv2 query's QRV,
    /// QQIC and delay are kept (`mld_process_v2`).
    pub fn queried(
        &mut self,
        (nic, mut q): (Nic, Query),
        groups: &[Ipv6Addr],
        now: Instant,
        rnd: &mut impl FnMut() -> u64,
    ) {
        let querier = &mut self.querier[nic as usize];
        let v1 = q.v1 || querier.v1_until.is_some_and(|t| now < t);
        // Read as MLDv1 by a worker that saw the NIC in MLDv1 mode, which
        // has ended since: not a query MLDv2 takes.
        if q.v1_mode_only && !v1 {
            return;
        }
        if q.v1 {
            let timeout = querier.qi * querier.qrv + querier.qri;
            querier.v1_until = Some(now + timeout);
        } else if v1 {
            q.max_delay = q.max_delay.min(V1_MAX_DELAY);
        } else {
            // `mld_update_qrv` (never under 2), `mld_update_qi`,
            // `mld_update_qri`.
            if q.qrv > 0 {
                querier.qrv = u32::from(q.qrv).max(2);
            }
            querier.qi = Duration::from_secs(u64::from(mld::query_interval_s(q.qqic)));
            querier.qri = q.max_delay;
        }
        if v1 {
            self.answers.retain(|p| p.nic != nic || p.group.is_some());
        }
        let mut at = || {
            let nanos = q.max_delay.as_nanos().min(u128::from(u64::MAX)) as u64;
            now + Duration::from_nanos(rnd().checked_rem(nanos).unwrap_or(0))
        };
        match q.group {
            // MLDv1: every group its own timer (`igmp6_group_queried`).
            None if v1 => {
                for &g in groups {
                    let at = at();
                    self.group_queried(nic, g, at);
                }
            }
            None => {
                let at = at();
                match self
                    .answers
                    .iter_mut()
                    .find(|p| p.nic == nic && p.group.is_none())
                {
                    Some(p) => p.at = p.at.min(at),
                    None => self.answers.push(Pending {
                        at,
                        nic,
                        group: None,
                    }),
                }
            }
            Some(g) if groups.contains(&g) => {
                let at = at();
                let general_sooner = self
                    .answers
                    .iter()
                    .any(|p| p.nic == nic && p.group.is_none() && p.at <= at);
                if v1 || !general_sooner {
                    self.group_queried(nic, g, at);
                }
            }
            Some(_) => {}
        }
    }

    /// Group `g`'s answer on `nic` at `at`, or sooner if one is due sooner.
    fn group_queried(&mut self, nic: Nic, g: Ipv6Addr, at: Instant) {
        match self
            .answers
            .iter_mut()
            .find(|p| p.nic == nic && p.group == Some(g))
        {
            Some(p) => p.at = p.at.min(at),
            None => self.answers.push(Pending {
                at,
                nic,
                group: Some(g),
            }),
        }
    }

    /// Whether `nic` is in MLDv1 compatibility mode at `now` (an MLDv1
    /// querier heard within its timeout: the kernel's `mld_in_v1_mode`):
    /// its reports, answers or not, go as MLDv1 reports.
    pub fn mld_v1(&self, nic: Nic, now: Instant) -> bool {
        self.querier[nic as usize].v1_until.is_some_and(|t| now < t)
    }

    /// Moves what is due at `now` to `out`, earliest first; rounds that a
    /// late call finds due together go once.
    pub fn due(&mut self, now: Instant, out: &mut Vec<Announce>) {
        self.due.sort_by_key(|(t, _)| *t);
        let n = self.due.partition_point(|(t, _)| *t <= now);
        let start = out.len();
        for (_, a) in self.due.drain(..n) {
            if !out[start..].contains(&a) {
                out.push(a);
            }
        }
        if let Some(at) = self.groups.filter(|at| *at <= now) {
            out.push(Announce::Groups);
            // From `now`: a late call does not make up missed rounds.
            self.groups = Some(now.max(at) + GROUPS_EVERY);
        }
        self.answers.sort_by_key(|p| p.at);
        let n = self.answers.partition_point(|p| p.at <= now);
        // The version as the kernel's `mld_mca_work` picks it when the
        // group's timer fires.
        let querier = self.querier;
        out.extend(self.answers.drain(..n).map(|p| Announce::Answer {
            nic: p.nic,
            group: p.group,
            v1: querier[p.nic as usize].v1_until.is_some_and(|t| now < t),
        }));
    }

    /// Nothing is left to announce but the periodic group reports.
    pub fn is_idle(&self) -> bool {
        self.due.is_empty() && self.answers.is_empty()
    }

    fn schedule(&mut self, now: Instant, at: &[Duration], what: Announce) {
        self.due.extend(at.iter().map(|d| (now + *d, what)));
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// What is announced at each of `steps` (ms after `t0`).
    fn run(a: &mut Announcer, t0: Instant, steps: &[u64]) -> Vec<(u64, Announce)> {
        let mut got = Vec::new();
        let mut out = Vec::new();
        for &ms in steps {
            a.due(t0 + Duration::from_millis(ms), &mut out);
            got.extend(out.drain(..).map(|x| (ms, x)));
        }
        got
    }

    /// 100 ms control ticks over 6 s.
    fn ticks() -> Vec<u64> {
        (0..=6000).step_by(100).collect()
    }

    /// The gratuitous ARPs per address in `got`, by time (ms).
    fn garps(got: &[(u64, Announce)]) -> Vec<(u64, usize)> {
        got.iter()
            .filter(|(_, a)| *a == Announce::Own4)
            .map(|&(ms, a)| (ms, a.times()))
            .collect()
    }

    #[test]
    fn activation_announces_both_families_on_their_schedules() {
        let t0 = Instant::now();
        let mut a = Announcer::new();
        a.activated(t0);
        let got = run(&mut a, t0, &ticks());
        use Announce::{Own4, Own6};
        assert_eq!(
            got,
            [
                (0, Own4),
                (0, Own6),
                (1000, Own6),
                (2000, Own6),
                (5000, Own4)
            ]
        );
        // keepalived's defaults: 5 gratuitous ARPs per address at once, 5
        // more after 5 s.
        assert_eq!(garps(&got), [(0, 5), (5000, 5)]);
        assert!(a.is_idle());
    }

    #[test]
    fn starting_active_announces_as_on_activation_and_a_standby_nothing() {
        let t0 = Instant::now();
        let got = run(&mut Announcer::starting(true, t0), t0, &ticks());
        let own4 = got.iter().filter(|(_, a)| *a == Announce::Own4).count();
        let own6 = got.iter().filter(|(_, a)| *a == Announce::Own6).count();
        assert_eq!((own4, own6), (2, 3), "{got:?}");
        assert_eq!(garps(&got), [(0, 5), (5000, 5)]);
        let mut standby = Announcer::starting(false, t0);
        assert!(standby.is_idle());
        assert!(run(&mut standby, t0, &ticks()).is_empty());
    }

    /// While active the IPv6 groups are reported every minute, from the
    /// activation on (a late tick does not make up missed rounds); a
    /// standby reports none.
    #[test]
    fn groups_are_reported_every_minute_while_active() {
        let t0 = Instant::now();
        let mut a = Announcer::starting(true, t0);
        let secs: Vec<u64> = (0..=200).map(|s| s * 1000).collect();
        let groups: Vec<u64> = run(&mut a, t0, &secs)
            .into_iter()
            .filter(|(_, x)| *x == Announce::Groups)
            .map(|(ms, _)| ms / 1000)
            .collect();
        assert_eq!(groups, [60, 120, 180]);
        let late = run(&mut a, t0, &[300_000, 301_000, 359_000, 360_000]);
        assert_eq!(
            late,
            [(300_000, Announce::Groups), (360_000, Announce::Groups)]
        );
        a.standby();
        assert!(run(&mut a, t0, &[500_000, 600_000]).is_empty());
        let mut standby = Announcer::starting(false, t0);
        assert!(run(&mut standby, t0, &secs).is_empty());
    }

    #[test]
    fn a_new_vip_is_announced_once_for_ipv4_three_times_for_ipv6() {
        let t0 = Instant::now();
        let mut a = Announcer::new();
        let v4 = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 110));
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110));
        a.vip_added(v4, t0);
        a.vip_added(v6, t0 + Duration::from_millis(300));
        let got = run(&mut a, t0, &ticks());
        use Announce::Vip;
        assert_eq!(
            got,
            [
                (0, Vip(v4)),
                (300, Vip(v6)),
                (1300, Vip(v6)),
                (2300, Vip(v6))
            ]
        );
    }

    #[test]
    fn a_standby_forgets_and_a_new_activation_restarts() {
        let t0 = Instant::now();
        let mut a = Announcer::new();
        a.activated(t0);
        assert_eq!(run(&mut a, t0, &[0]).len(), 2);
        a.standby();
        assert!(a.is_idle());
        assert!(run(&mut a, t0, &ticks()).is_empty());
        // Active again at 2.5 s: the whole schedule from there, and a VIP still
        // due from before is folded into it.
        let t1 = t0 + Duration::from_millis(2500);
        a.vip_added(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 111)), t1);
        a.activated(t1);
        let got = run(&mut a, t1, &[0, 600, 1100, 2100, 5000]);
        assert_eq!(
            got,
            [
                (0, Announce::Own4),
                (0, Announce::Own6),
                (1100, Announce::Own6),
                (2100, Announce::Own6),
                (5000, Announce::Own4)
            ]
        );
    }

    /// MLD query answers (RFC 3810 §6.2): each at its drawn moment within
    /// the delay; a general answer due sooner stands and covers a group's,
    /// a later one is brought forward; two answers about a group make the
    /// sooner; a group not ours gets none; a standby forgets them.
    #[test]
    fn query_answers_go_at_their_moments_and_merge() {
        use crate::wire::mld::Query;
        let t0 = Instant::now();
        let g = |n| Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, n);
        let ours = [g(1), g(2)];
        let q = |group, ms, v1| Query {
            group,
            max_delay: Duration::from_millis(ms),
            v1,
            v1_mode_only: false,
            qrv: 2,
            qqic: 125,
        };
        // The draws, in turn: 400 ms, 700, 100, 900 (of 1000).
        let mut draws = [400_000_000u64, 700_000_000, 100_000_000, 900_000_000]
            .into_iter()
            .cycle();
        let mut rnd = move || draws.next().unwrap_or(0);
        let mut a = Announcer::new();
        a.queried((Nic::Ext, q(None, 1000, false)), &ours, t0, &mut rnd);
        // About g(1) at 700 ms: the general answer at 400 covers it.
        a.queried((Nic::Ext, q(Some(g(1)), 1000, false)), &ours, t0, &mut rnd);
        // Another general query, drawn 100 ms: brought forward; one more,
        // drawn 900: the answer at 100 stands.
        a.queried((Nic::Ext, q(None, 1000, false)), &ours, t0, &mut rnd);
        a.queried((Nic::Ext, q(None, 1000, false)), &ours, t0, &mut rnd);
        // Not ours.
        a.queried((Nic::Ext, q(Some(g(9)), 1000, false)), &ours, t0, &mut rnd);
        // On the other NIC, about g(2) at 400 then 700: the sooner.
        a.queried((Nic::Int, q(Some(g(2)), 1000, false)), &ours, t0, &mut rnd);
        a.queried((Nic::Int, q(Some(g(2)), 1000, false)), &ours, t0, &mut rnd);
        let ticks: Vec<u64> = (0..=1000).step_by(50).collect();
        let got = run(&mut a, t0, &ticks);
        let answer = |nic, group| Announce::Answer {
            nic,
            group,
            v1: false,
        };
        assert_eq!(
            got,
            [
                (100, answer(Nic::Ext, None)),
                (400, answer(Nic::Int, Some(g(2))))
            ]
        );
        assert!(a.is_idle());
        // MLDv1, general: one answer per group, each its own draw.
        a.queried((Nic::Ext, q(None, 1000, true)), &ours, t0, &mut rnd);
        let got = run(&mut a, t0, &ticks);
        let v1 = |group| Announce::Answer {
            nic: Nic::Ext,
            group: Some(group),
            v1: true,
        };
        assert_eq!(got, [(100, v1(g(1))), (900, v1(g(2)))]);
        // A delay of 0: at once (on the other NIC: the external one is
        // in MLDv1 mode now). A standby forgets what was due.
        a.queried((Nic::Int, q(None, 0, false)), &ours, t0, &mut rnd);
        assert_eq!(run(&mut a, t0, &[0]), [(0, answer(Nic::Int, None))]);
        a.queried((Nic::Int, q(None, 1000, false)), &ours, t0, &mut rnd);
        a.standby();
        assert!(a.is_idle());
    }

    /// An MLDv1 query drops the MLDv2 general answer due on its NIC
    /// (`mld_gq_stop_work`); in MLDv1 mode an MLDv2 query's delay is at
    /// most 32767 ms (`MLDV1_MRD_MAX_COMPAT`) and its values are not kept:
    /// a later MLDv1 query's timeout is still the defaults' 260 s.
    #[test]
    fn mldv1_mode_drops_the_general_answer_and_caps_the_delay() {
        use crate::wire::mld::Query;
        let t0 = Instant::now();
        let g = |n| Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, n);
        let ours = [g(1), g(2)];
        let q = |group, ms, v1, qqic| Query {
            group,
            max_delay: Duration::from_millis(ms),
            v1,
            v1_mode_only: false,
            qrv: 2,
            qqic,
        };
        let mut rnd = || u64::MAX;
        let mut a = Announcer::new();
        a.queried((Nic::Ext, q(None, 10_000, false, 125)), &ours, t0, &mut rnd);
        a.queried(
            (Nic::Ext, q(Some(g(1)), 1000, true, 0)),
            &ours,
            t0,
            &mut rnd,
        );
        let got = run(&mut a, t0, &[1000, 20_000]);
        let v1 = |group| Announce::Answer {
            nic: Nic::Ext,
            group: Some(group),
            v1: true,
        };
        assert_eq!(got, [(1000, v1(g(1)))]);
        // An MLDv2 general query of 60 s (and QQIC 10 s) in MLDv1 mode.
        a.queried((Nic::Ext, q(None, 60_000, false, 10)), &ours, t0, &mut rnd);
        // (Uncapped, this draw would be 33.7 s.)
        let got = run(&mut a, t0, &[32_767]);
        assert_eq!(got, [(32_767, v1(g(1))), (32_767, v1(g(2)))]);
        let later = t0 + Duration::from_secs(100);
        a.queried(
            (Nic::Ext, q(Some(g(1)), 1000, true, 0)),
            &ours,
            later,
            &mut rnd,
        );
        assert!(a.mld_v1(Nic::Ext, later + Duration::from_secs(259)));
        assert!(!a.mld_v1(Nic::Ext, later + Duration::from_secs(260)));
    }

    /// A late call sends the rounds it finds due together once, in order.
    #[test]
    fn late_ticks_send_what_is_due_once() {
        let t0 = Instant::now();
        let mut a = Announcer::new();
        a.activated(t0);
        let got = run(&mut a, t0, &[1700, 5000]);
        assert_eq!(
            got,
            [
                (1700, Announce::Own4),
                (1700, Announce::Own6),
                (5000, Announce::Own6),
                (5000, Announce::Own4)
            ]
        );
        assert!(a.is_idle());
    }
}
