//! How a connection finds the persistence template it is counted on
//! (`nat::persist`): by the [`Link`] it got when counted (its shard and its
//! place there, and its generation), never through the rules. The kernel's
//! connection holds its template (`cp->control`, set by
//! `ip_vs_control_add`, `ip_vs_conn.c`), so that `ip_vs_conn_expire` takes
//! the connection off it (`ip_vs_control_del`) whatever happened to the
//! service since: deleted (`-D`, `-C`), made non-persistent, its `-M`
//! changed. A key recomputed from the rules found nothing then, and the
//! template counted the connection for ever.

use super::{Shard, TEMPLATE_SHARDS, TemplateDest, TemplateKey, Templates};
use crate::nat::Addr;

/// Bits of a [`Link`]'s `at` that name the place in the shard
/// (`PER_SHARD` places each).
const SLOT_BITS: u32 = 14;
const _: () = assert!(super::PER_SHARD <= 1 << SLOT_BITS);
const _: () = assert!(TEMPLATE_SHARDS << SLOT_BITS <= 1 << 20);

/// What a connection holds of its template: where it is (its shard and its
/// place there, in the low 20 bits of `at`) and its generation, which tells
/// it from a template that took the place since (0: no template). A
/// worker's table keeps `at` beside the connection, out of its entry
/// (`ConnTable::link`), and the generation in it (`Conn::template`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    pub at: u32,
    pub generation: u16,
}

impl Link {
    /// No template (its shard was full).
    pub const NONE: Link = Link {
        at: 0,
        generation: 0,
    };

    pub(super) fn new(shard: usize, slot: u16, generation: u16) -> Self {
        Self {
            at: (shard as u32) << SLOT_BITS | u32::from(slot),
            generation,
        }
    }

    fn shard(self) -> usize {
        (self.at >> SLOT_BITS) as usize % TEMPLATE_SHARDS
    }

    fn slot(self) -> usize {
        (self.at & ((1 << SLOT_BITS) - 1)) as usize
    }
}

/// A place of a shard: the key of the template in it, if one is, and the
/// generation of the last one that was.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot<A> {
    key: Option<TemplateKey<A>>,
    generation: u16,
}

impl<A: Addr> Shard<A> {
    /// A place for a new template: a vacant one (the last freed), or a new
    /// one; with the generation of the template last in it, which the new
    /// one must not have ([`Templates::next_generation`]). A shard has room
    /// for `PER_SHARD` templates (`room_for`), so for as many places. A new
    /// place may allocate, as the map does when a template is made; `vacant`
    /// grows with `slots` then, so that freeing one never does (the sweep).
    pub(super) fn take_slot(&mut self) -> (u16, Option<u16>) {
        if let Some(i) = self.vacant.pop() {
            return (i, Some(self.slots[usize::from(i)].generation));
        }
        self.slots.push(Slot {
            key: None,
            generation: 0,
        });
        let room = self.slots.capacity();
        if self.vacant.capacity() < room {
            self.vacant.reserve_exact(room - self.vacant.len());
        }
        ((self.slots.len() - 1) as u16, None)
    }

    /// Template `key` of `generation` takes place `slot`.
    pub(super) fn hold(&mut self, slot: u16, key: TemplateKey<A>, generation: u16) {
        if let Some(s) = self.slots.get_mut(usize::from(slot)) {
            *s = Slot {
                key: Some(key),
                generation,
            };
        }
    }

    /// The template at `slot` left.
    pub(super) fn free(&mut self, slot: u16) {
        free_slot(&mut self.slots, &mut self.vacant, slot);
    }

    /// The template `link` names, if it is still there.
    fn linked(&mut self, link: Link) -> Option<&mut super::Template<A>> {
        let key = self.slots.get(link.slot())?.key?;
        self.map
            .get_mut(&key)
            .filter(|t| t.generation == link.generation && link.generation != 0)
    }
}

impl<A: Addr> Templates<A> {
    /// A connection counted on the template of `link` left its table at
    /// `now`: it no longer counts on it (`ip_vs_control_del`), whatever the
    /// rules say now.
    pub fn release_at(&self, link: Link, now: u32) {
        self.release(link, now, false);
    }

    /// [`Templates::release_at`] for a connection evicted from a full
    /// table: its template goes too if that is not assured and now counts
    /// no connection, as IPVS's `ip_vs_random_dropentry` deletes the
    /// connection by `ip_vs_conn_del` (its `timeout` 0, as it has a
    /// `control`), and `ip_vs_conn_expire` then deletes a template that is
    /// not `IP_VS_CTPL_S_ASSURED` and controls nothing more
    /// (`ip_vs_conn.c`). So a flood of spoofed SYNs that recycles its own
    /// entries does not leave their templates to fill their shards. An
    /// assured template stays for its timeout, as the kernel's.
    pub fn release_evicted_at(&self, link: Link, now: u32) {
        self.release(link, now, true);
    }

    /// Uncount a connection on the template of `link` at `now`; one
    /// `evicted` takes an unassured template left counting none along.
    fn release(&self, link: Link, now: u32, evicted: bool) {
        let mut shard = self.lock(link.shard());
        let Some(t) = shard.linked(link) else {
            return;
        };
        t.settle(now);
        t.n_control = t.n_control.saturating_sub(1);
        if evicted && t.n_control == 0 && !t.assured {
            let key = shard.slots.get(link.slot()).and_then(|s| s.key);
            if let Some(key) = key {
                shard.remove(&key);
            }
        }
    }

    /// A connection of the template of `link` was established (TCP, SCTP)
    /// or got a reply (UDP): it is assured (`ip_vs_control_assure_ct`).
    pub fn assure_at(&self, link: Link) {
        if let Some(t) = self.lock(link.shard()).linked(link) {
            t.assured = true;
        }
    }

    /// The seconds a new connection extends the template of `link` by at
    /// `now` (IPVS's template `timeout`: the service's `-p`,
    /// [`super::EXPIRE_LATER`] once re-armed), the real server it names,
    /// whether it is assured and its client (masked as it was made, under
    /// the `-M` of then), if it is still there.
    pub fn current_at(&self, link: Link, now: u32) -> Option<(u32, TemplateDest<A>, bool, A)> {
        let mut shard = self.lock(link.shard());
        let key = shard.slots.get(link.slot())?.key?;
        let t = shard.linked(link)?;
        t.settle(now);
        Some((t.period, t.dest, t.assured, key.client))
    }
}

/// The template at `slot` of `slots` left: the place is `vacant`.
pub(super) fn free_slot<A>(slots: &mut [Slot<A>], vacant: &mut Vec<u16>, slot: u16) {
    if let Some(s) = slots.get_mut(usize::from(slot))
        && s.key.take().is_some()
    {
        vacant.push(slot);
    }
}
