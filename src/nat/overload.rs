//! IPVS's overload flag of a real server with connection thresholds (`-x`,
//! `-y`): set and cleared as connections bind and unbind
//! ([`overload_bind`], [`overload_unbind`]), brought up to date when a
//! new connection is scheduled ([`overload_check`]), and the thresholds by
//! `DestId` the workers look up for that ([`limits`]).

use crate::config::Config;

/// IPVS's overload hysteresis for one real server, given its connections over all
/// workers (`total`, active + inactive) and its thresholds, as a new connection
/// is scheduled. `flag` is the shared
/// per-`DestId` state: 0 when not overloaded, else the upper threshold in force
/// when the server became overloaded. As in IPVS (`ip_vs_conn.c`:
/// `ip_vs_bind_dest` sets `IP_VS_DEST_F_OVERLOAD`, `ip_vs_unbind_dest` clears
/// it), a server becomes overloaded when
/// `total` reaches `u` (if non-zero) and stays so until `total` drops below `l`,
/// or below 3/4 of `u` when `l` is 0; raising `u` (or clearing it) ends the
/// overload at once (`__ip_vs_update_dest`). Every bind and unbind moves the
/// flag too ([`overload_bind`], [`overload_unbind`]), so this finds it as they
/// left it unless the thresholds changed since. The flag is written with plain
/// stores: every worker computes the same value from the same inputs, so a race
/// only decides which of two equal answers lands.
pub fn overload_check(flag: &std::sync::atomic::AtomicU32, u: u32, l: u32, total: u32) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let set = flag.load(Relaxed);
    let was = u != 0 && set != 0 && set >= u;
    let now = if u == 0 {
        false
    } else if was {
        if l != 0 {
            total >= l
        } else {
            u64::from(total) * 4 >= u64::from(u) * 3
        }
    } else {
        total >= u
    };
    let want = if now { u } else { 0 };
    if set != want {
        flag.store(want, Relaxed);
    }
    now
}

/// [`overload_check`] when a connection binds to the server, its total now
/// `total` (active and inactive, over all workers): as `ip_vs_bind_dest`
/// (`ip_vs_conn.c`), the server becomes overloaded if `total` reached `u`
/// (non-zero); a bind never ends an overload.
#[inline]
pub fn overload_bind(flag: &std::sync::atomic::AtomicU32, u: u32, total: u32) {
    use std::sync::atomic::Ordering::Relaxed;
    if u != 0 && total >= u && flag.load(Relaxed) != u {
        flag.store(u, Relaxed);
    }
}

/// [`overload_check`] when a connection unbinds from the server, its total
/// now `total`: as `ip_vs_unbind_dest` (`ip_vs_conn.c`), an overload ends
/// when `total` is below `l`, or with no `l` below 3/4 of `u`, or at once
/// with no threshold; an unbind never starts one. A flag an earlier `u` left
/// that no longer counts (`u` raised since, see [`overload_check`]) is
/// cleared too, as `__ip_vs_update_dest` cleared it.
#[inline]
pub fn overload_unbind(flag: &std::sync::atomic::AtomicU32, u: u32, l: u32, total: u32) {
    use std::sync::atomic::Ordering::Relaxed;
    let set = flag.load(Relaxed);
    if set == 0 {
        return;
    }
    let below = if l != 0 {
        total < l
    } else {
        u == 0 || u64::from(total) * 4 < u64::from(u) * 3
    };
    if below || set < u {
        flag.store(0, Relaxed);
    }
}

/// Each real server's thresholds by id ([`super::Snapshot::limits`]), if any
/// has an upper one (else empty): the rules' servers, and the removed ones
/// the trash keeps, whose connections still bind and unbind by their own
/// (the kernel's trashed dest keeps its thresholds).
pub fn limits(cfg: &Config) -> Box<[(u32, u32)]> {
    let dests = || {
        let live = cfg.services().iter().flat_map(|s| s.dests.iter());
        live.map(|d| (d.id, d.limits())).chain(cfg.kept_limits())
    };
    if dests().all(|(_, (u, _))| u == 0) {
        return Box::default();
    }
    let len = dests().map(|(id, _)| id.0 as usize + 1).max().unwrap_or(0);
    let mut v = vec![(0, 0); len];
    for (id, l) in dests() {
        v[id.0 as usize] = l;
    }
    v.into_boxed_slice()
}

/// The overload flags a publish clears, as `__ip_vs_update_dest`
/// (`ip_vs_ctl.c`) clears `IP_VS_DEST_F_OVERLOAD` when a server's upper
/// threshold is 0 or raised: each id of either table whose `-x` is 0 in
/// `after` (none, or an id the trash freed) or higher than in `before`. A
/// flag a worker still on `before` set again after an earlier publish
/// cleared it goes at the next. The flag that stays (the same `-x`, or a
/// lower one) keeps its hysteresis.
pub fn cleared(before: &[(u32, u32)], after: &[(u32, u32)], mut clear: impl FnMut(usize)) {
    let upper = |v: &[(u32, u32)], i: usize| v.get(i).map_or(0, |l| l.0);
    for i in 0..before.len().max(after.len()) {
        let (was, now) = (upper(before, i), upper(after, i));
        if now == 0 || now > was {
            clear(i);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn overload_has_hysteresis() {
        let f = AtomicU32::new(0);
        // u = 4, l = 0: overloaded at 4, back below 3 (3/4 of 4).
        assert!(!overload_check(&f, 4, 0, 3));
        assert!(overload_check(&f, 4, 0, 4));
        assert!(overload_check(&f, 4, 0, 3));
        assert!(!overload_check(&f, 4, 0, 2));
        assert!(!overload_check(&f, 4, 0, 3));
        // u = 10, l = 2: stays overloaded down to 2.
        assert!(overload_check(&f, 10, 2, 10));
        assert!(overload_check(&f, 10, 2, 2));
        assert!(!overload_check(&f, 10, 2, 1));
        // Raising the threshold ends an overload; clearing it too.
        assert!(overload_check(&f, 10, 2, 10));
        assert!(!overload_check(&f, 20, 2, 10));
        assert!(overload_check(&f, 10, 0, 12));
        assert!(!overload_check(&f, 0, 0, 12));
        assert_eq!(f.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn binds_only_set_and_unbinds_only_clear() {
        let f = AtomicU32::new(0);
        let over = |f: &AtomicU32| overload_check(f, 4, 0, 3);
        // u = 4, l = 0: a bind at 3 does nothing, at 4 sets.
        overload_bind(&f, 4, 3);
        assert!(!over(&f));
        overload_bind(&f, 4, 4);
        assert!(over(&f));
        // An unbind to 3 keeps it (not below 3/4 of 4), to 2 clears it.
        overload_unbind(&f, 4, 0, 3);
        assert!(over(&f));
        overload_unbind(&f, 4, 0, 2);
        assert!(!over(&f));
        // A bind back to 3 does not set it; an unbind at 5 never does.
        overload_bind(&f, 4, 3);
        assert!(!over(&f));
        overload_unbind(&f, 4, 0, 5);
        assert_eq!(f.load(std::sync::atomic::Ordering::Relaxed), 0);
        // With l = 2: kept at 2, cleared at 1; with no threshold at once.
        overload_bind(&f, 10, 10);
        overload_unbind(&f, 10, 2, 2);
        assert!(overload_check(&f, 10, 2, 2));
        overload_unbind(&f, 10, 2, 1);
        assert_eq!(f.load(std::sync::atomic::Ordering::Relaxed), 0);
        overload_bind(&f, 10, 10);
        overload_unbind(&f, 0, 0, 9);
        assert_eq!(f.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}
