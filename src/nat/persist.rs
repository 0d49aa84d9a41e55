//! Persistence templates (`ipvsadm -p timeout -M netmask`), shared by all workers.
//!
//! As in IPVS (`ip_vs_core.c`: `ip_vs_sched_persist`), a new connection to a
//! persistent service first looks for the template of (service, client address
//! & netmask); the template names the real
//! server every connection of that client (any source port) goes to while it
//! lives. The fanout spreads one client's source ports over the workers, so a
//! template cannot live in one worker's table: templates sit in [`TEMPLATE_SHARDS`]
//! shards, each a `Mutex<HashMap>`. A shard lock is taken only
//!
//! * when a *new connection of a persistent service* is scheduled (look up or
//!   create its template, count the connection on it),
//! * when such a connection leaves a worker's table (uncount it: IPVS's
//!   `n_control`), so never per packet,
//! * by each worker's once-a-second sweep of a few shards (`try_lock`: a busy
//!   shard is skipped), and by listings (`ipvsadm -L -c`).
//!
//! Lifetime, after IPVS (`ip_vs_sched_persist`, `ip_vs_check_template`): a
//! template expires `timeout` seconds after the last connection it was used for
//! was scheduled, but never while connections it controls are in some worker's
//! table. (IPVS re-arms such a template's timer for another full timeout each time
//! it fires; here the template goes as soon as its last connection is gone and
//! its timeout has passed.) A template whose real server left the service is not
//! used: the connection is scheduled again and the template replaced. A server
//! with weight 0 keeps its templates (IPVS's default `expire_quiescent_template`
//! of 0).
//!
//! A connection remembers its template by a 16-bit generation (in the 2 bytes
//! `Conn` had as padding), so a connection of a replaced template never uncounts
//! the new one. At most [`MAX_TEMPLATES`] templates exist: when a shard is full a
//! new client is scheduled without a template. The shards' maps start small and
//! grow (an allocation when a template is created and the map doubles, never per
//! packet).

use super::{ConnInfo, Persist, ServiceId, Snapshot, State};
use crate::config::DestId;
use hashbrown::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard};

pub const TEMPLATE_SHARDS: usize = 64;
/// Most templates at once (over all shards).
pub const MAX_TEMPLATES: usize = 1 << 20;
const PER_SHARD: usize = MAX_TEMPLATES / TEMPLATE_SHARDS;
/// Templates each shard has room for before its map grows.
const SHARD_START: usize = 64;

/// What a template is found by: the service and the masked client address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    pub svc: ServiceId,
    pub client: u32,
}

/// The real server a template sends its client to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateDest {
    pub id: DestId,
    pub addr: u32,
    pub port: u16,
}

#[derive(Clone, Copy, Debug)]
struct Template {
    dest: TemplateDest,
    /// Second (on the workers' clock) after which it may go.
    expires: u32,
    /// The netmask it was made under (a changed `-M` retires it).
    mask: u32,
    /// Connections it controls in the workers' tables.
    n_control: u32,
    generation: u16,
}

impl Template {
    fn alive(&self, now: u32) -> bool {
        now < self.expires || self.n_control > 0
    }
}

#[derive(Debug)]
struct Shard {
    map: HashMap<TemplateKey, Template>,
    /// Last generation handed out (never 0: 0 means "no template" in a `Conn`).
    generation: u16,
}

impl Shard {
    /// A new template (the next generation), counting `n_control`
    /// connections; returns its generation.
    fn insert(
        &mut self,
        key: TemplateKey,
        dest: TemplateDest,
        mask: u32,
        expires: u32,
        n_control: u32,
    ) -> u16 {
        self.generation = self.generation.checked_add(1).unwrap_or(1);
        let generation = self.generation;
        self.map.insert(
            key,
            Template {
                dest,
                expires,
                mask,
                n_control,
                generation,
            },
        );
        generation
    }
}

#[derive(Debug)]
pub struct Templates {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for Templates {
    fn default() -> Self {
        Self {
            shards: (0..TEMPLATE_SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::with_capacity(SHARD_START),
                        generation: 0,
                    })
                })
                .collect(),
        }
    }
}

/// Which shard a key lives in: a multiplicative mix of all its fields.
fn shard_of(k: &TemplateKey) -> usize {
    let (proto, vip, port) = k.svc;
    let x = u64::from(k.client) << 32 ^ u64::from(vip) ^ u64::from(port) << 8 ^ u64::from(proto);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % TEMPLATE_SHARDS
}

impl Templates {
    fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        // A worker that panicked holding a shard aborts the process (release
        // builds abort on panic); in tests, keep going with the data as it is.
        self.shards[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The real server for a new connection of a persistent service: the one of
    /// the client's live template if `valid` accepts it, else the one `pick`
    /// chooses, remembered in a new template. The connection is counted on the
    /// template; the returned generation (0: no template, the shard was full)
    /// goes into the connection for [`Templates::release`].
    pub fn schedule(
        &self,
        key: TemplateKey,
        p: Persist,
        now: u32,
        valid: impl FnOnce(&TemplateDest) -> bool,
        pick: impl FnOnce() -> Option<TemplateDest>,
    ) -> Option<(TemplateDest, u16)> {
        let mut shard = self.lock(shard_of(&key));
        let expires = now.saturating_add(p.timeout);
        if let Some(t) = shard.map.get_mut(&key) {
            if t.alive(now) && t.mask == p.mask && valid(&t.dest) {
                t.n_control += 1;
                t.expires = t.expires.max(expires);
                return Some((t.dest, t.generation));
            }
            shard.map.remove(&key);
        }
        let dest = pick()?;
        if shard.map.len() >= PER_SHARD {
            return Some((dest, 0));
        }
        let generation = shard.insert(key, dest, p.mask, expires, 1);
        Some((dest, generation))
    }

    /// A template received from a sync master (`ip_vs_proc_conn` of a
    /// template, `ip_vs_sync.c`): the client of `key` goes to `dest` until
    /// `expires` at least. A live template to the same server is extended; one
    /// to another server is replaced only if `replace` (a standby takes the
    /// master's word; an active director keeps its own). No connection is
    /// counted on it: synced connections carry no template generation.
    /// Returns whether the template is now the one received.
    pub fn install(
        &self,
        key: TemplateKey,
        dest: TemplateDest,
        mask: u32,
        expires: u32,
        replace: bool,
    ) -> bool {
        let mut shard = self.lock(shard_of(&key));
        if let Some(t) = shard.map.get_mut(&key) {
            if t.dest == dest && t.mask == mask {
                t.expires = t.expires.max(expires);
                return true;
            }
            if !replace {
                return false;
            }
        } else if shard.map.len() >= PER_SHARD {
            return false;
        }
        shard.insert(key, dest, mask, expires, 0);
        true
    }

    /// A connection counted on template `key` of `generation` left its table.
    pub fn release(&self, key: TemplateKey, generation: u16) {
        let mut shard = self.lock(shard_of(&key));
        if let Some(t) = shard.map.get_mut(&key)
            && t.generation == generation
        {
            t.n_control = t.n_control.saturating_sub(1);
        }
    }

    /// Drop the templates of shards `first..first + n` (wrapping) that expired,
    /// whose service is gone or no longer persistent, or whose netmask changed.
    /// Busy shards are skipped.
    pub fn sweep(&self, first: usize, n: usize, now: u32, snap: &Snapshot) {
        for i in (first..first + n).map(|i| i % TEMPLATE_SHARDS) {
            let Ok(mut shard) = self.shards[i].try_lock() else {
                continue;
            };
            shard.map.retain(|k, t| {
                t.alive(now)
                    && snap
                        .services
                        .get(&k.svc)
                        .and_then(|s| s.persist)
                        .is_some_and(|p| p.mask == t.mask)
            });
        }
    }

    /// Templates in use now.
    pub fn len(&self, now: u32) -> usize {
        (0..TEMPLATE_SHARDS)
            .map(|i| self.lock(i).map.values().filter(|t| t.alive(now)).count())
            .sum()
    }

    pub fn is_empty(&self, now: u32) -> bool {
        self.len(now) == 0
    }

    /// Append the live templates to a listing, at most `limit` entries in all.
    pub fn list(&self, now: u32, out: &mut Vec<ConnInfo>, limit: usize) {
        for i in 0..TEMPLATE_SHARDS {
            let shard = self.lock(i);
            for (k, t) in shard.map.iter().filter(|(_, t)| t.alive(now)) {
                if out.len() >= limit {
                    return;
                }
                let (proto, vip, vport) = k.svc;
                out.push(ConnInfo {
                    proto,
                    client: (Ipv4Addr::from(k.client), 0),
                    vip: (Ipv4Addr::from(vip), vport),
                    dest: (Ipv4Addr::from(t.dest.addr), t.dest.port),
                    state: State::None,
                    expires_in: t.expires.saturating_sub(now),
                    template: true,
                });
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const P: Persist = Persist {
        timeout: 300,
        mask: 0xffff_ff00,
    };

    fn key(client: u32) -> TemplateKey {
        TemplateKey {
            svc: (6, 10, 80),
            client: client & P.mask,
        }
    }

    fn d(id: u32) -> TemplateDest {
        TemplateDest {
            id: DestId(id),
            addr: 100 + id,
            port: 80,
        }
    }

    #[test]
    fn template_lives_while_controlled_and_until_timeout() {
        let t = Templates::default();
        let (a, g) = t.schedule(key(1), P, 0, |_| true, || Some(d(1))).unwrap();
        assert_eq!(a, d(1));
        assert_ne!(g, 0);
        // Same /24, later: the template wins over the scheduler.
        let (b, g2) = t.schedule(key(2), P, 10, |_| true, || Some(d(2))).unwrap();
        assert_eq!((b, g2), (d(1), g));
        // Two connections controlled: alive past the timeout.
        assert_eq!(t.len(400), 1);
        t.release(key(1), g);
        assert_eq!(t.len(400), 1);
        t.release(key(1), g);
        assert_eq!(t.len(309), 1);
        assert_eq!(t.len(310), 0);
        // An expired template is replaced by the scheduler's choice.
        let (c, g3) = t.schedule(key(1), P, 400, |_| true, || Some(d(2))).unwrap();
        assert_eq!(c, d(2));
        assert_ne!(g3, g);
        // A release of the old generation does not uncount the new template.
        t.release(key(1), g);
        t.release(key(1), g3);
        assert_eq!(t.len(699), 1);
        assert_eq!(t.len(700), 0);
    }

    #[test]
    fn invalid_template_is_replaced() {
        let t = Templates::default();
        t.schedule(key(1), P, 0, |_| true, || Some(d(1))).unwrap();
        let (b, _) = t
            .schedule(key(1), P, 1, |x| x.id != DestId(1), || Some(d(2)))
            .unwrap();
        assert_eq!(b, d(2));
        let mut l = vec![];
        t.list(1, &mut l, 10);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].dest.0, Ipv4Addr::from(102));
        assert_eq!(l[0].expires_in, 300);
        // Nothing to pick: no template.
        assert!(t.schedule(key(9 << 8), P, 1, |_| true, || None).is_none());
        assert_eq!(t.len(1), 1);
    }
}
