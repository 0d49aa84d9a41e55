//! keepalived's quorum of a virtual server (`check/ipwrapper.c`:
//! `set_quorum_states`, `update_quorum_state`, `weigh_live_realservers`).
//!
//! A service holds its quorum while the weights of its real servers that are
//! up (not held down by their check) add up to at least `quorum`. With a
//! `hysteresis`, the quorum is gained at `quorum + hysteresis` and lost below
//! `quorum - hysteresis`, or at 0, so a weight sum that wavers about the
//! quorum does not move the sorry server in and out. A service seen for the
//! first time holds it if its weight reaches `quorum + hysteresis`.
//!
//! Both values are first lowered as keepalived's configuration check does
//! (`Quorum::bounds`): the quorum to the servers' total configured weight,
//! the hysteresis below the quorum. The servers weighed up count with the
//! weights their checks set (`misc_dynamic`, a `track_file`), as
//! `weigh_live_realservers` sums `effective_weight`, but the bounds stay
//! those of the configured weights: keepalived lowers `vs->quorum` once, in
//! `validate_check_config` (`check/check_data.c`), and `update_svr_wgt`
//! changes only a server's `effective_weight`. One difference: keepalived gains a quorum
//! lowered to 0 (all configured weights 0) at a weight of 0 and loses it
//! again at once; here no quorum is held at a weight of 0.
//!
//! Only services with a check or a sorry server are weighed: elsewhere the
//! quorum changes nothing.
//!
//! Here too [`effective`]: the rules the data plane runs, with the servers
//! held down and the sorry server as the quorum says; and the control
//! thread's weighing before each publish (`Monitor::weigh`).

use super::Notifier;
use crate::config::{Config, DestId, Quorum, Scripts, ServiceKey};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Whether each weighed service holds its quorum, as last weighed, with its
/// quorum scripts (for when it leaves the rules).
#[derive(Debug, Default)]
pub struct Quorums {
    up: HashMap<ServiceKey, (bool, Scripts)>,
}

/// One service's state after weighing: `was` is `None` for a service weighed
/// the first time; `weight` the weights of its real servers up (as their
/// checks set them), `total` the configured weights of all of them.
pub fn next(was: Option<bool>, q: Quorum, weight: u64, total: u64) -> bool {
    let (quorum, hysteresis) = q.bounds(total);
    if weight == 0 {
        return false;
    }
    match was {
        Some(true) => weight >= quorum.saturating_sub(hysteresis),
        None | Some(false) => weight >= quorum + hysteresis,
    }
}

impl Quorums {
    /// Weighs every service with a check or a sorry server of the rules
    /// `cfg` (their configured weights) against the real servers held down
    /// (`down`), a server up counting with the weight its checks set
    /// (`weights`, else its configured one), logs the ones that gained or lost their
    /// quorum (as keepalived's `Gained quorum` and `Lost quorum`) and tells
    /// `notify` (as `do_vs_notifies`: also a service that starts without its
    /// quorum and has a sorry server, keepalived's "Starting with quorum
    /// down"), forgets services that are gone (telling those that held
    /// their quorum, as `clear_service_vs` through `update_vs_notifies` when
    /// a reload removes a virtual server), and returns those without a
    /// quorum.
    pub fn weigh(
        &mut self,
        cfg: &Config,
        weights: &HashMap<DestId, u32>,
        down: &HashMap<DestId, bool>,
        notify: &Notifier,
    ) -> HashSet<ServiceKey> {
        let mut seen = HashMap::with_capacity(self.up.len());
        for s in cfg.services() {
            if s.check.is_none() && s.sorry.is_none() {
                continue;
            }
            let total = s.dests.iter().map(|d| u64::from(d.weight)).sum::<u64>();
            let up = s.dests.iter().filter(|d| !down.contains_key(&d.id));
            let live = |d: &crate::config::Dest| *weights.get(&d.id).unwrap_or(&d.weight);
            let weight = up.map(|d| u64::from(live(d))).sum::<u64>();
            let was = self.up.get(&s.key).map(|u| u.0);
            let now = next(was, s.quorum, weight, total);
            if was != Some(now) && (was.is_some() || !now) {
                let (quorum, hysteresis) = s.quorum.bounds(total);
                let how = match (was, now) {
                    (None, _) => "starts without its quorum",
                    (_, true) => "gained its quorum",
                    (_, false) => "lost its quorum",
                };
                crate::log!(
                    "ringvs: health: {} {how}: weight up {weight}, quorum {quorum}, hysteresis {hysteresis}",
                    s.key
                );
                if was.is_some() || s.sorry.is_some() {
                    notify.quorum(&s.key, now, &s.quorum_scripts);
                }
            }
            seen.insert(s.key, (now, s.quorum_scripts.clone()));
        }
        for (k, (was, scripts)) in &self.up {
            if *was && cfg.service(k).is_none() {
                notify.quorum(k, false, scripts);
            }
        }
        self.up = seen;
        self.lost()
    }

    /// The services without their quorum, as last weighed.
    pub fn lost(&self) -> HashSet<ServiceKey> {
        self.up
            .iter()
            .filter(|(_, (up, _))| !*up)
            .map(|(k, _)| *k)
            .collect()
    }
}

/// What the data plane should run: `cfg` without the servers held down (removed,
/// or with weight 0 when their check says `inhibit_on_failure`). With
/// `listing`, every down server stays, with weight 0 (what `-L` shows).
///
/// A service's sorry server (`config::SorryServer`) is in it, weight 1, while
/// the service is without its quorum (`lost`, from [`Monitor::weigh`]:
/// keepalived's `update_quorum_state`, `check/ipwrapper.c`; by default while
/// no real server is up with weight, whether the servers failed their
/// checks or were given weight 0); otherwise it is out, or in with weight 0
/// with `sorry_server_inhibit`. While the sorry server serves, the servers
/// still up leave the pool as keepalived takes them out
/// (`perform_quorum_state`, whose `DEL_DEST` keepalived's `ipvs_cmd` turns
/// into weight 0 for a server with `inhibit_on_failure`): removed, or at
/// weight 0 with the check's `inhibit_on_failure`, as if they had failed.
/// Weight 0 alone would not do: a hashing scheduler (`sh`, `dh`, `mh`)
/// keeps a weight-0 server's buckets and finds no server there, and a
/// persistence template keeps sending its clients to it.
pub fn effective(
    cfg: &Config,
    down: &HashMap<DestId, bool>,
    lost: &HashSet<ServiceKey>,
    listing: bool,
) -> Config {
    if down.is_empty() && cfg.services().iter().all(|s| s.sorry.is_none()) {
        return cfg.clone();
    }
    let mut out = cfg.clone();
    for s in cfg.services() {
        let sorry = s.sorry.filter(|_| lost.contains(&s.key));
        let inhibit_up = s.check.as_ref().is_some_and(|c| c.inhibit_on_failure);
        for d in &s.dests {
            let held = match down.get(&d.id) {
                Some(&inhibit) => Some(inhibit),
                None if sorry.is_some() => Some(inhibit_up),
                None => None,
            };
            let _ = match held {
                Some(false) if !listing => out.del_dest(&s.key, d.addr, d.port).map(|_| ()),
                Some(_) => out.edit_dest(&s.key, d.addr, d.port, 0).map(|_| ()),
                None => Ok(()),
            };
        }
        let Some(s_svr) = s.sorry else { continue };
        if sorry.is_some() {
            out.put_sorry(&s.key, 1);
        } else if s_svr.inhibit {
            out.put_sorry(&s.key, 0);
        }
    }
    out
}

impl super::Monitor {
    /// The control thread, before each publish: weighs the quorums of the
    /// rules `cfg` as configured (not reweighed) against the servers held
    /// down, at the weights their checks set (`quorum`), and gives those
    /// without one with the rules reweighed ([`Monitor::reweigh`]). Both
    /// at one reading of the weights: a verdict the health thread sets
    /// between two readings would decide the quorum on one weight set and
    /// publish the other.
    pub fn weigh<'c>(
        &self,
        cfg: &'c Config,
        down: &HashMap<DestId, bool>,
    ) -> (HashSet<ServiceKey>, Cow<'c, Config>) {
        let weights = self.weights.lock().map(|w| w.clone()).unwrap_or_default();
        let lost = match self.quorums.lock() {
            Ok(mut q) => q.weigh(cfg, &weights, down, &self.notify),
            Err(_) => HashSet::new(),
        };
        (lost, reweighed(cfg, &weights))
    }

    /// The rules `cfg` with the weights `misc_dynamic` checks set
    /// (keepalived's `update_svr_wgt`, `check/ipwrapper.c`): what `-L`
    /// lists, as [`Monitor::weigh`] gives the workers; `-S` keeps `cfg`'s.
    pub fn reweigh<'c>(&self, cfg: &'c Config) -> Cow<'c, Config> {
        match self.weights.lock() {
            Ok(w) => reweighed(cfg, &w),
            Err(_) => Cow::Borrowed(cfg),
        }
    }

    /// The control thread, before each publish: the servers brought back
    /// since the last call that their check had held down without
    /// `inhibit_on_failure`. keepalived removed them from IPVS and adds
    /// them again (`check/ipwrapper.c`: `update_svr_checker_state` ->
    /// `perform_svr_state` -> `ipvs_cmd` with `LVS_CMD_ADD_DEST`), which
    /// puts them at the head of their service's list
    /// ([`Config::raise_dest`]); an inhibited server only had its weight
    /// set to 0 (`LVS_CMD_EDIT_DEST`) and keeps its place.
    fn take_raised(&self) -> Vec<DestId> {
        self.raised
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// The servers held down now and those [`Monitor::take_raised`] gives,
    /// read under the lock the health thread holds while it sets both
    /// ([`Monitor::note_raised`]), so that a server back is never seen up
    /// and not yet raised.
    pub fn down_and_raised(&self) -> (HashMap<DestId, bool>, Vec<DestId>) {
        let Ok(d) = self.down.lock() else {
            return (HashMap::new(), self.take_raised());
        };
        (d.clone(), self.take_raised())
    }

    /// The health thread, as the servers held down go from `was` to `now`:
    /// those removed (not inhibited) that are back, by id, for
    /// [`Monitor::take_raised`].
    pub(super) fn note_raised(&self, was: &HashMap<DestId, bool>, now: &HashMap<DestId, bool>) {
        let back = was
            .iter()
            .filter(|&(id, &inh)| !inh && !now.contains_key(id));
        let mut back: Vec<DestId> = back.map(|(&id, _)| id).collect();
        back.sort_unstable();
        if let Ok(mut r) = self.raised.lock() {
            r.extend(back);
        }
    }

    /// Tests: the health thread's verdict that `down` are held down.
    #[cfg(test)]
    pub(crate) fn hold(&self, down: HashMap<DestId, bool>) -> bool {
        let e = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        self.set_held_for(e, (down, HashMap::new()))
    }

    /// Tests: the health thread's verdict that every server is up, at the
    /// weights `weights` their checks set (`misc_dynamic`, a `track_file`).
    #[cfg(test)]
    pub(crate) fn set_weights(&self, weights: HashMap<DestId, u32>) -> bool {
        let e = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        self.set_held_for(e, (HashMap::new(), weights))
    }
}

/// The rules `cfg` with the weights `w` the checks set.
fn reweighed<'c>(cfg: &'c Config, w: &HashMap<DestId, u32>) -> Cow<'c, Config> {
    if w.is_empty() {
        return Cow::Borrowed(cfg);
    }
    let mut out = cfg.clone();
    for s in cfg.services() {
        let set = s.dests.iter().filter_map(|d| Some((d, *w.get(&d.id)?)));
        for (d, weight) in set.filter(|&(d, x)| x != d.weight) {
            let _ = out.edit_dest(&s.key, d.addr, d.port, weight);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn q(quorum: u32, hysteresis: u32) -> Quorum {
        Quorum { quorum, hysteresis }
    }

    /// keepalived's defaults (1, 0): held while any weight is up.
    #[test]
    fn the_default_quorum_is_any_weight_up() {
        for was in [None, Some(true), Some(false)] {
            assert!(!next(was, Quorum::default(), 0, 5));
            assert!(next(was, Quorum::default(), 1, 5));
        }
    }

    /// Quorum 3, hysteresis 1 over a total of 5: gained at 4, kept down to
    /// 2, lost at 1; first weighed, held from 4.
    #[test]
    fn hysteresis_widens_the_step_both_ways() {
        let q = q(3, 1);
        let path = [5, 4, 3, 2, 1, 2, 3, 4, 3, 2, 0, 4];
        let want = [
            true, true, true, true, false, false, false, true, true, true, false, true,
        ];
        let mut state = None;
        for (w, want) in path.into_iter().zip(want) {
            let now = next(state, q, w, 5);
            assert_eq!(now, want, "weight {w} after {state:?}");
            state = Some(now);
        }
        assert!(!next(None, q, 3, 5), "first weighed: quorum + hysteresis");
        assert!(next(None, q, 4, 5));
    }

    /// keepalived's configuration check: a quorum above the total weight
    /// is lowered to it, a hysteresis of the quorum or more to one less.
    #[test]
    fn quorum_and_hysteresis_are_bounded_as_keepalived_bounds_them() {
        assert_eq!(q(10, 0).bounds(4), (4, 0));
        assert_eq!(q(3, 3).bounds(10), (3, 2));
        assert_eq!(q(3, 7).bounds(2), (2, 1));
        assert_eq!(q(1, 0).bounds(0), (0, 0));
        // Quorum 10 over 4: all four up hold it.
        assert!(next(None, q(10, 0), 4, 4));
        assert!(!next(Some(true), q(10, 0), 3, 4));
        // Never held at a weight of 0, even with every weight 0.
        assert!(!next(Some(false), q(1, 0), 0, 0));
    }
}
