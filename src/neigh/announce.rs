//! When the director announces its addresses: gratuitous ARP for IPv4,
//! unsolicited neighbor advertisements for IPv6. Pure data the control thread
//! acts on (it is told the time; it says what is due), so the schedule is
//! tested without sockets.
//!
//! * Becoming active (and starting active) announces every address of ours
//!   in both families: the DIPs on their NICs and every VIP on the external
//!   one, so that neighbors that cached the other director's MAC switch.
//!   Gratuitous ARP goes three times ([`GARP_AT`]): it can be lost, and
//!   keepalived repeats its own too (`vrrp_garp_master_repeat`). Unsolicited
//!   advertisements go [`NA_AT`]: RFC 4861 §7.2.6 allows up to
//!   MAX_NEIGHBOR_ADVERTISEMENT (3) of them, RetransTimer (1 s) apart. They go
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
//!   by RFC 3810's defaults) without the director answering its queries.
//! * A standby announces nothing, and forgets what was due: its addresses are
//!   the active director's.
//!
//! Which addresses "every address of ours" means is read when an
//! announcement is due, not when it is scheduled: a VIP deleted meanwhile is
//! not announced again.

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Gratuitous ARP after becoming active: at once, then twice more.
pub const GARP_AT: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(500),
    Duration::from_secs(2),
];
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
/// group after its listener interval (260 s) never does.
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
}

/// The announcements still to come.
#[derive(Debug, Default)]
pub struct Announcer {
    due: Vec<(Instant, Announce)>,
    /// When the groups are reported again, while active.
    groups: Option<Instant>,
}

impl Announcer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The announcer of a director starting at `now`, `active` or a
    /// standby: started active, it announces as on becoming active (three
    /// rounds, not one: right after the rings open is when a round is most
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
    }

    /// Nothing is left to announce but the periodic group reports.
    pub fn is_idle(&self) -> bool {
        self.due.is_empty()
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

    /// 100 ms control ticks over 3 s.
    fn ticks() -> Vec<u64> {
        (0..=3000).step_by(100).collect()
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
                (500, Own4),
                (1000, Own6),
                (2000, Own4),
                (2000, Own6)
            ]
        );
        assert!(a.is_idle());
    }

    #[test]
    fn starting_active_announces_as_on_activation_and_a_standby_nothing() {
        let t0 = Instant::now();
        let got = run(&mut Announcer::starting(true, t0), t0, &ticks());
        let own4 = got.iter().filter(|(_, a)| *a == Announce::Own4).count();
        let own6 = got.iter().filter(|(_, a)| *a == Announce::Own6).count();
        assert_eq!((own4, own6), (3, 3), "{got:?}");
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
        let got = run(&mut a, t1, &[0, 600, 1100, 2100]);
        assert_eq!(
            got,
            [
                (0, Announce::Own4),
                (0, Announce::Own6),
                (600, Announce::Own4),
                (1100, Announce::Own6),
                (2100, Announce::Own4),
                (2100, Announce::Own6)
            ]
        );
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
                (5000, Announce::Own4),
                (5000, Announce::Own6)
            ]
        );
        assert!(a.is_idle());
    }
}
