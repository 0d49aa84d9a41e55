//! The ids of a [`Config`]'s real servers: handed out in turn, skipping
//! those in use, and kept aside for a removed server so that it gets its own
//! back when added again: IPVS's trash of dests (`ip_vs_ctl.c`:
//! `__ip_vs_del_dest` puts a dest in it, `ip_vs_trash_get_dest` takes it
//! back, `ip_vs_dest_trash_expire` frees it).
//!
//! As the kernel's, a removed server stays in the trash while something
//! still names it (the kernel counts a dest's references: its connections
//! and persistence templates, `ip_vs_bind_dest`) and goes once it has been
//! idle for [`TRASH_PERIOD`]: its id is free again, for any server, and the
//! same server added after that is a new one (a new id, counters from 0).
//! The config does not see the workers: the control thread tells it, at
//! each sweep ([`Config::sweep_trash`]), which kept ids are held, on its own
//! clock. An id is never handed out while it is kept, so a connection or a
//! template that names it cannot be taken for another server's. What names
//! an id out of `Shared::held`'s sight checks it at use instead: a synced
//! connection queued to a worker is installed only if the worker's rules
//! still give the id to the server the daemon resolved
//! (`dataplane::sync::Resolved`), a one-packet datagram's later fragments
//! go only to the address and port its first went to
//! (`dataplane::frag_table::OpsTo`).
//!
//! Out of ids, a kept one may be handed out before its period, once no
//! worker can schedule to it again: every worker has loaded the rules published
//! without it (the epoch [`Config::published`] stamps it with, which each
//! worker publishes once it has loaded, `dataplane::Published::loaded`)
//! and, after that, a sweep found nothing holding it.

use std::net::IpAddr;

use super::{AdmError, Config, Dest, DestId, MAX_DEST_IDS, ServiceKey, SorryServer};

/// Seconds a removed server stays in the trash once nothing holds it:
/// IPVS's `IP_VS_DEST_TRASH_PERIOD` (`include/net/ip_vs.h`, 120 s).
pub const TRASH_PERIOD: u64 = 120;

/// Which removed server a kept id is for: its service, address and port,
/// and whether it was the service's sorry server (which may share a real
/// server's address and port, with an id of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct TrashKey {
    pub(super) key: ServiceKey,
    pub(super) addr: IpAddr,
    pub(super) port: u16,
    pub(super) sorry: bool,
}

impl TrashKey {
    /// Real server `d` of service `key`.
    pub(super) fn real(key: ServiceKey, d: &Dest) -> Self {
        Self {
            key,
            addr: d.addr,
            port: d.port,
            sorry: false,
        }
    }

    /// Sorry server `s` of service `key`.
    pub(super) fn sorry(key: ServiceKey, s: &SorryServer) -> Self {
        Self {
            key,
            addr: s.addr,
            port: s.port,
            sorry: true,
        }
    }
}

/// A kept id's server, and since when (the control thread's seconds) no
/// connection nor template has named it, as last seen by a sweep (IPVS's
/// `idle_start`; `None`: held, or not swept yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Trashed {
    at: TrashKey,
    idle_since: Option<u64>,
    /// The epoch of the first rules published without it ([`Config::published`];
    /// `None`: not published yet). A worker that has loaded it or a later one
    /// no longer schedules to it.
    gone: Option<u64>,
    /// The last sweep found it idle with every worker at or past `gone`:
    /// nothing names it and nothing can again, so it may give its place up
    /// early ([`Config::alloc_id`]).
    settled: bool,
    /// Its thresholds (`-x`, `-y`) when it was removed: as the kernel's
    /// trashed dest keeps its own, its connections' unbinds still move its
    /// overload flag by them (`ip_vs_unbind_dest`), and an `-a` of it again
    /// clears the flag only for a higher `-x` or none (`__ip_vs_update_dest`).
    limits: (u32, u32),
}

impl Config {
    /// Whether some real server (or sorry server) has id `id`.
    pub fn has_id(&self, id: DestId) -> bool {
        self.ids_in_use.contains(&id.0)
    }

    /// The removed servers' ids kept in the trash, with the thresholds
    /// (`-x`, `-y`) they had.
    pub fn kept_limits(&self) -> impl Iterator<Item = (DestId, (u32, u32))> + '_ {
        self.trash.iter().map(|(&id, t)| (DestId(id), t.limits))
    }

    /// Whether `id` is a server's, now or kept for a removed one to have back
    /// (the trash).
    pub fn keeps_id(&self, id: DestId) -> bool {
        self.ids_in_use.contains(&id.0) || self.trash.contains_key(&id.0)
    }

    /// Number of server ids in use over all services: real servers and
    /// sorry servers.
    pub fn dest_count(&self) -> usize {
        self.ids_in_use.len()
    }

    /// The ids kept for removed servers, in order.
    pub fn trashed_ids(&self) -> Vec<DestId> {
        let mut v: Vec<DestId> = self.trash.keys().map(|&id| DestId(id)).collect();
        v.sort_unstable();
        v
    }

    /// The ids handed out to new servers since the last call (not those
    /// taken back from the trash): the control thread starts their
    /// counters from 0, whatever an earlier server of the id left in them.
    pub fn take_fresh_ids(&mut self) -> Vec<DestId> {
        std::mem::take(&mut self.fresh)
    }

    /// The rules of this config were published as epoch `epoch`: the ids
    /// removed since the last publish are gone from the rules the workers
    /// load from it on.
    pub fn published(&mut self, epoch: u64) {
        for t in self.trash.values_mut() {
            t.gone.get_or_insert(epoch);
        }
    }

    /// One pass of IPVS's trash timer (`ip_vs_dest_trash_expire`) at `now`
    /// (seconds on the caller's clock): a kept id that `held` says some
    /// connection or template still names stays; one that nothing names
    /// is idle from now, and is freed once it has been idle for
    /// [`TRASH_PERIOD`]. `loaded` is the lowest epoch every worker had
    /// loaded before `held` was asked: an idle id gone from the rules of
    /// that epoch or an earlier one is settled (see `alloc_id`). Returns
    /// the ids freed, in order.
    pub fn sweep_trash(
        &mut self,
        now: u64,
        loaded: u64,
        held: impl Fn(DestId) -> bool,
    ) -> Vec<DestId> {
        let mut freed = Vec::new();
        for (&id, t) in self.trash.iter_mut() {
            if held(DestId(id)) {
                (t.idle_since, t.settled) = (None, false);
                continue;
            }
            t.settled = t.gone.is_some_and(|g| loaded >= g);
            match t.idle_since {
                None => t.idle_since = Some(now),
                Some(s) if now.saturating_sub(s) >= TRASH_PERIOD => freed.push(DestId(id)),
                Some(_) => {}
            }
        }
        freed.sort_unstable();
        for &id in &freed {
            self.forget_trashed(id.0);
        }
        freed
    }

    /// Keeps removed server `at` with its id `id` (see `trash`): held
    /// until a sweep finds it idle.
    pub(super) fn keep_aside(&mut self, at: TrashKey, id: DestId, limits: (u32, u32)) {
        let t = Trashed {
            at,
            idle_since: None,
            gone: None,
            settled: false,
            limits,
        };
        self.trash.insert(id.0, t);
        // One id per server: an older one of the same server stays kept
        // (its connections may live) but no longer comes back.
        self.trash_index.insert(at, id.0);
    }

    /// The id kept for server `at`, taken out of the trash.
    pub(super) fn take_back(&mut self, at: TrashKey) -> Option<DestId> {
        let id = self.trash_index.remove(&at)?;
        self.trash.remove(&id);
        self.ids_in_use.insert(id).then_some(DestId(id))
    }

    /// Makes `id` the next one tried (tests: ids about to wrap).
    #[cfg(test)]
    pub(crate) fn set_next_id(&mut self, id: u32) {
        self.next_id = id % MAX_DEST_IDS;
    }

    /// Drops kept id `id` from the trash: it is free.
    fn forget_trashed(&mut self, id: u32) {
        if let Some(t) = self.trash.remove(&id)
            && self.trash_index.get(&t.at) == Some(&id)
        {
            self.trash_index.remove(&t.at);
        }
    }

    /// A new id: the next free one in turn (neither in use nor kept). With
    /// none left, the kept id idle longest gives its place up early (its
    /// server comes back as a new one) if it is settled: the last sweep
    /// found it idle after every worker had loaded rules without it. An id
    /// still held never does, nor one a worker on older rules may still
    /// schedule to.
    pub(super) fn alloc_id(&mut self) -> Result<DestId, AdmError> {
        let mut found = None;
        for _ in 0..MAX_DEST_IDS {
            let id = self.next_id;
            self.next_id = (self.next_id + 1) % MAX_DEST_IDS;
            if !self.trash.contains_key(&id) && !self.ids_in_use.contains(&id) {
                found = Some(id);
                break;
            }
        }
        if found.is_none() {
            found = self
                .trash
                .iter()
                .filter(|(_, t)| t.settled)
                .filter_map(|(&id, t)| t.idle_since.map(|s| (s, id)))
                .min()
                .map(|(_, id)| id);
            if let Some(id) = found {
                self.forget_trashed(id);
            }
        }
        let id = found.ok_or(AdmError::NoMemory)?;
        self.ids_in_use.insert(id);
        self.fresh.push(DestId(id));
        Ok(DestId(id))
    }
}
