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
//!   shard is skipped, but for one due while a sync master reports, which is
//!   waited for: `sweep.rs`), run while a service is persistent or any
//!   shard holds a template ([`Templates::any_held`]: those of a service
//!   deleted or made non-persistent still expire, and free their servers
//!   from the trash), and by listings (`ipvsadm -L -c`).
//!
//! Lifetime, after IPVS (`ip_vs_sched_persist`, `ip_vs_check_template`): a
//! template expires `timeout` seconds after the last connection it was used for
//! was scheduled, but never while connections it controls are in some worker's
//! table. As IPVS's `ip_vs_conn_expire` (`ip_vs_conn.c`, `expire_later`), a
//! template whose time runs out while it controls connections is given
//! [`EXPIRE_LATER`] seconds more, again and again, and from then on a new
//! connection also extends it by that much only (IPVS sets the template's
//! `timeout` to 60 s there): so it goes at the first such 60-second mark
//! after its last connection left. Without timers, the marks are worked out
//! when they matter ([`Template::settle`]): when a connection leaves it,
//! when a new one uses it, for a listing, and at the workers' sweep, which
//! hands each template re-armed since it last looked to a sync master to
//! report, as `expire_later` calls `ip_vs_sync_conn`
//! ([`Templates::sweep_reporting`]); each shard keeps the first second one
//! of its templates that count connections runs out (`due`), so that a
//! reporting sweep takes that shard in then. A template whose real server left the service is not
//! used: the connection is scheduled again and the template replaced. A server
//! with weight 0 keeps its templates (IPVS's default `expire_quiescent_template`
//! of 0).
//!
//! A connection holds its template, as IPVS's `cp->control`: by a [`Link`],
//! its shard and its place there (which the worker's table keeps beside the
//! connection) and a 16-bit generation (in the 2 bytes `Conn` had as
//! padding; one count for all shards), never through the rules, so that it
//! leaves it whatever became of its service (`link.rs`). A template taking
//! the place of one gone never has its generation, so a connection of a
//! replaced template does not uncount the new one (nor one made there
//! after yet another, unless a multiple of 32767 templates were made in
//! between). The sweep drops a template once it counts no connection and
//! its time ran out, whatever the rules say of its service (deleted, not
//! persistent, another `-M`), as the kernel's, which
//! `__ip_vs_del_service` leaves alone. At most [`MAX_TEMPLATES`] templates exist: when a shard is full a
//! new client is scheduled without a template (counted in `persist_untemplated`,
//! `sip_untemplated` for a SIP one: a deliberate cap, `docs/ipvsadm.md`); a
//! key falls in a shard by a keyed hash ([`Templates::shard_of`]), so no
//! client can aim at one. The shards' maps start small and
//! grow (an allocation when a template is created and the map doubles, never per
//! packet).
//!
//! A SIP template (`--pe sip`) is found by a hash of its Call-ID
//! ([`Templates::with_call_id`]); the Call-ID itself is kept beside it, in
//! its shard's `calls` (a [`PeData`] each, at most `PE_PER_SHARD` a
//! shard; the map starts with room for [`CALLS_START`] and grows as the
//! templates' own does, when a template is made), for listings only:
//! `-L -c` shows it as `/proc/net/ip_vs_conn` shows a template's `pe_data`.
//! A template without an engine has no entry there, and nothing of it is
//! touched per packet.
//!
//! Templates are of one address family ([`Addr`]; `u32`, IPv4, by default):
//! IPv6 clients have a `Templates<Ipv6Addr>` of their own, keyed by the
//! client's prefix of the service's `-M` length (as IPVS, see
//! [`Addr::masked`]).

use super::conn::TEMPLATE_ASSURED;
use super::sip::PeData;
use super::{Addr, ConnInfo, Persist, State};
use crate::config::{DestId, PersistEngine};
use hashbrown::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

mod link;
mod sweep;

pub use link::Link;
use link::Slot;

pub const TEMPLATE_SHARDS: usize = 64;
/// Most templates at once (over all shards).
pub const MAX_TEMPLATES: usize = 1 << 20;
const PER_SHARD: usize = MAX_TEMPLATES / TEMPLATE_SHARDS;
/// Templates of a persistence engine (`TemplateKey::pe` not 0) each shard
/// holds at most: a client makes one per SIP call, and must not take the
/// room of every persistent service's clients.
const PE_PER_SHARD: usize = PER_SHARD / 2;
/// Templates each shard has room for before its map grows.
const SHARD_START: usize = 64;
/// SIP templates' Call-IDs each shard has room for before its `calls`
/// grows (a [`PeData`] is 256 bytes: about 150 KB a family).
const CALLS_START: usize = 4;
/// Seconds a template that outlived its timeout while controlling
/// connections is re-armed for (`ip_vs_conn_expire`, `expire_later`).
pub const EXPIRE_LATER: u32 = 60;

/// What a template is found by: the service (protocol, VIP, port; a
/// [`ServiceId`](super::ServiceId) for IPv4), the masked client address and, for a service
/// with a persistence engine, what the engine read ([`Templates::with_call_id`];
/// else 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateKey<A = u32> {
    pub svc: (u8, A, u16),
    pub client: A,
    pub pe: u64,
}

impl<A: Addr> TemplateKey<A> {
    /// The key of `client`'s template of service `svc` under the service's
    /// `-M` `mask` (see [`Addr::masked`]).
    #[inline]
    pub fn new(svc: (u8, A, u16), client: A, mask: u32) -> Self {
        Self {
            svc,
            client: client.masked(mask),
            pe: 0,
        }
    }
}

/// A template looked for, or made if there is none: its key and, for a
/// SIP template, the Call-ID its key's `pe` was hashed from, which a new
/// template keeps for listings. A key alone is a template without one.
#[derive(Clone, Copy, Debug)]
pub struct Wanted<'a, A = u32> {
    pub key: TemplateKey<A>,
    pub call_id: Option<&'a [u8]>,
}

impl<A> From<TemplateKey<A>> for Wanted<'_, A> {
    fn from(key: TemplateKey<A>) -> Self {
        Wanted { key, call_id: None }
    }
}

/// The real server a template sends its client to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateDest<A = u32> {
    pub id: DestId,
    pub addr: A,
    pub port: u16,
}

#[derive(Clone, Copy, Debug)]
struct Template<A> {
    dest: TemplateDest<A>,
    /// Second (on the workers' clock) after which it may go.
    expires: u32,
    /// Seconds a new connection extends it by: the service's `-p` when it
    /// was made, [`EXPIRE_LATER`] once it outlived that (IPVS's template
    /// `timeout`).
    period: u32,
    /// The netmask it was made under (a changed `-M` retires it).
    mask: u32,
    /// Connections it controls in the workers' tables.
    n_control: u32,
    generation: u16,
    /// One of its connections was established, or got a reply (UDP):
    /// IPVS's `IP_VS_CTPL_S_ASSURED` (`ip_vs_control_assure_ct`).
    assured: bool,
    /// Its place in its shard's `slots`, which its connections hold
    /// ([`Link`]).
    slot: u16,
    /// Second it was last reported to the sync master for the datagrams of
    /// a one-packet-scheduling service ([`Templates::sync_due`]), if ever.
    synced: Option<u32>,
    /// Its timer was re-armed ([`Template::settle`]) since the sweep last
    /// handed it over to be reported ([`Templates::sweep_reporting`]).
    rearmed: bool,
    /// Flushed with its server (`--expire-nodest-conn`,
    /// [`Templates::flush_gone`]): never used again, gone with its last
    /// connection.
    flushed: bool,
}

/// A template whose time ran out while connections still used it, so that
/// it was re-armed for [`EXPIRE_LATER`] seconds: what
/// [`Templates::sweep_reporting`] hands over for a sync master to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rearmed<A = u32> {
    pub key: TemplateKey<A>,
    pub dest: TemplateDest<A>,
    /// IPVS's `IP_VS_CTPL_S_ASSURED`.
    pub assured: bool,
}

impl<A: Copy> Template<A> {
    fn alive(&self, now: u32) -> bool {
        now < self.expires || self.n_control > 0
    }

    /// Run IPVS's timer up to `now`: each time `expires` passed while the
    /// template controlled connections, it was re-armed for
    /// [`EXPIRE_LATER`] seconds (`expire_later`), and its period became
    /// that. Called before `n_control` falls, so the marks passed while it
    /// was above 0 are counted.
    fn settle(&mut self, now: u32) {
        if now >= self.expires && self.n_control > 0 && !self.flushed {
            let marks = (now - self.expires) / EXPIRE_LATER + 1;
            self.expires = self
                .expires
                .saturating_add(marks.saturating_mul(EXPIRE_LATER));
            self.period = EXPIRE_LATER;
            self.rearmed = true;
        }
    }

    /// Seconds until its timer fires next, as `ipvsadm -L -c` shows it.
    fn expires_in(&self, now: u32) -> u32 {
        let mut t = *self;
        t.settle(now);
        t.expires.saturating_sub(now)
    }
}

#[derive(Debug)]
struct Shard<A> {
    map: HashMap<TemplateKey<A>, Template<A>>,
    /// Templates in `map` with a persistence engine's key.
    pe: usize,
    /// The Call-IDs of the SIP templates in `map`, for listings.
    calls: HashMap<TemplateKey<A>, PeData>,
    /// The templates' places, which their connections find them by
    /// ([`Link`], `link.rs`).
    slots: Vec<Slot<A>>,
    /// Places in `slots` no template holds, the last freed on top.
    vacant: Vec<u16>,
}

impl<A: Addr> Shard<A> {
    /// A new template of `generation` ([`Templates::next_generation`]),
    /// counting `n_control` connections.
    fn insert(
        &mut self,
        Wanted { key, call_id }: Wanted<'_, A>,
        dest: TemplateDest<A>,
        mask: u32,
        (expires, period): (u32, u32),
        (n_control, generation): (u32, u16),
        slot: u16,
    ) {
        self.hold(slot, key, generation);
        let t = Template {
            dest,
            expires,
            period,
            mask,
            n_control,
            generation,
            assured: false,
            slot,
            synced: None,
            rearmed: false,
            flushed: false,
        };
        if self.map.insert(key, t).is_none() && key.pe != 0 {
            self.pe += 1;
        }
        // Only an engine's key has one: `room_for` bounds them.
        match call_id.filter(|_| key.pe != 0).and_then(PeData::new) {
            Some(call) => {
                self.calls.insert(key, call);
            }
            None => {
                self.calls.remove(&key);
            }
        }
    }

    fn remove(&mut self, key: &TemplateKey<A>) {
        let Some(t) = self.map.remove(key) else {
            return;
        };
        self.free(t.slot);
        if key.pe != 0 {
            self.pe -= 1;
            self.calls.remove(key);
        }
    }

    /// Whether a new template of `key` may be made.
    fn room_for(&self, key: &TemplateKey<A>) -> bool {
        self.map.len() < PER_SHARD && (key.pe == 0 || self.pe < PE_PER_SHARD)
    }
}

/// A shard held: as it is let go, the templates it holds are noted in
/// its place of [`Templates::lens`] (a store, where a lock was taken), so
/// that [`Templates::any_held`] needs no lock.
struct Locked<'a, A> {
    shard: MutexGuard<'a, Shard<A>>,
    len: &'a AtomicU32,
}

impl<A> std::ops::Deref for Locked<'_, A> {
    type Target = Shard<A>;
    fn deref(&self) -> &Shard<A> {
        &self.shard
    }
}

impl<A> std::ops::DerefMut for Locked<'_, A> {
    fn deref_mut(&mut self) -> &mut Shard<A> {
        &mut self.shard
    }
}

impl<A> Drop for Locked<'_, A> {
    fn drop(&mut self) {
        self.len.store(self.shard.map.len() as u32, Relaxed);
    }
}

/// The templates of one address family (`u32`, IPv4, by default).
#[derive(Debug)]
pub struct Templates<A = u32> {
    shards: Box<[Mutex<Shard<A>>]>,
    /// Per shard, a second at or before which none of its templates that
    /// count connections runs out (and so is re-armed), `u32::MAX` for
    /// none: lowered as a connection is counted, set by a sweep of the
    /// shard, both under its lock; read without it by a reporting sweep
    /// ([`Templates::sweep_reporting`]).
    due: Box<[AtomicU32]>,
    /// Per shard, the templates it held when its lock was last let go
    /// ([`Locked`]), read without it by [`Templates::any_held`].
    lens: Box<[AtomicU32]>,
    /// Templates made so far, of which a new one's generation is drawn
    /// ([`Templates::next_generation`]).
    made: AtomicU64,
    /// Keyed (per process) hash of a SIP Call-ID into a key's `pe`.
    pe_hash: std::hash::RandomState,
    /// Keyed (per process) hash of a key into its shard
    /// ([`Templates::shard_of`]).
    shard_hash: foldhash::quality::RandomState,
}

impl<A: Addr> Default for Templates<A> {
    fn default() -> Self {
        Self {
            shards: (0..TEMPLATE_SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::with_capacity(SHARD_START),
                        pe: 0,
                        calls: HashMap::with_capacity(CALLS_START),
                        slots: Vec::with_capacity(SHARD_START),
                        vacant: Vec::with_capacity(SHARD_START),
                    })
                })
                .collect(),
            due: (0..TEMPLATE_SHARDS)
                .map(|_| AtomicU32::new(u32::MAX))
                .collect(),
            lens: (0..TEMPLATE_SHARDS).map(|_| AtomicU32::new(0)).collect(),
            made: AtomicU64::new(0),
            pe_hash: std::hash::RandomState::new(),
            shard_hash: foldhash::quality::RandomState::default(),
        }
    }
}

impl<A: Addr> Templates<A> {
    /// Which shard a key lives in: the top bits of a keyed hash of all its
    /// fields (a per-process random key, as a worker's connection table
    /// hashes its keys), so that no client can aim its addresses at one
    /// shard to fill it and leave that shard's other clients without a
    /// template. Once per new connection of a persistent service.
    pub fn shard_of(&self, k: &TemplateKey<A>) -> usize {
        use std::hash::BuildHasher;
        let bits = TEMPLATE_SHARDS.trailing_zeros();
        (self.shard_hash.hash_one(k) >> (64 - bits)) as usize % TEMPLATE_SHARDS
    }

    fn lock(&self, i: usize) -> Locked<'_, A> {
        // A worker that panicked holding a shard aborts the process (release
        // builds abort on panic); in tests, keep going with the data as it is.
        let shard = self.shards[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.locked(i, shard)
    }

    /// Shard `i`, held by `shard`, as [`Locked`].
    fn locked<'a>(&'a self, i: usize, shard: MutexGuard<'a, Shard<A>>) -> Locked<'a, A> {
        Locked {
            shard,
            len: &self.lens[i],
        }
    }

    /// Whether some shard held a template when last let go: the workers
    /// sweep the templates while this is so, persistent service or not
    /// (a load a shard, once a second).
    pub fn any_held(&self) -> bool {
        self.lens.iter().any(|n| n.load(Relaxed) != 0)
    }

    /// The generation of a new template (never 0: 0 means "no template" in
    /// a `Conn`; below `TEMPLATE_ASSURED`, the bit a connection keeps for
    /// itself beside it, `Conn::template_gen`). One count for all shards
    /// (an atomic add per new template, never per packet), so that two
    /// templates made less than 32767 apart never share one: after a `-M`
    /// change, a connection's client's key under the new netmask finds a
    /// template in another shard than its own, which counted its own
    /// generations from 1 too when each shard had its count.
    ///
    /// A template never gets `old`'s generation, that of the template last
    /// in the slot it takes (`Shard::take_slot`; the one it replaces at its
    /// key, where it replaces one, whose slot it takes): a connection still
    /// counted on that one must not take the new one for its own
    /// (`release_at`, `current_at`), however many templates were made in
    /// between.
    fn next_generation(&self, old: Option<u16>) -> u16 {
        let draw = || {
            let n = self.made.fetch_add(1, Relaxed);
            (n % u64::from(TEMPLATE_ASSURED - 1)) as u16 + 1
        };
        let g = draw();
        if Some(g) == old { draw() } else { g }
    }

    /// Template `key` of shard `i` (whose lock the caller holds) counts a
    /// connection and runs out at `expires`: the shard is due then at the
    /// latest (a load and maybe a store, per new connection). Not a SIP
    /// template's (`key.pe`): its one connection or datagram is let go at
    /// once, so it is never re-armed.
    fn counted(&self, i: usize, key: &TemplateKey<A>, expires: u32) {
        if key.pe == 0 && expires < self.due[i].load(Relaxed) {
            self.due[i].store(expires, Relaxed);
        }
    }

    /// `key` for the datagrams of SIP call `call_id` (`--pe sip`): IPVS's
    /// engine matches a template by the Call-ID as well as the client
    /// (`ip_vs_sip_ct_match`); here by a keyed 64-bit hash of it, so two
    /// calls share a template only if their hashes collide (a chance of
    /// 2^-64 a pair, and no client can aim at one).
    pub fn with_call_id(&self, key: TemplateKey<A>, call_id: &[u8]) -> TemplateKey<A> {
        use std::hash::BuildHasher;
        TemplateKey {
            pe: self.pe_hash.hash_one(call_id) | 1,
            ..key
        }
    }

    /// The real server for a new connection of a persistent service: the one of
    /// the client's live template if `valid` accepts it, else the one `pick`
    /// chooses, remembered in a new template. The connection is counted on the
    /// template; the returned [`Link`] (generation 0: no template, the shard
    /// was full) is what the connection holds to find it again
    /// ([`Templates::release_at`]) whatever the rules say by then.
    pub fn schedule<'a>(
        &self,
        want: impl Into<Wanted<'a, A>>,
        p: Persist,
        now: u32,
        valid: impl FnOnce(&TemplateDest<A>) -> bool,
        pick: impl FnOnce() -> Option<TemplateDest<A>>,
    ) -> Option<(TemplateDest<A>, Link)> {
        let want = want.into();
        let key = want.key;
        let i = self.shard_of(&key);
        let mut shard = self.lock(i);
        let expires = now.saturating_add(p.timeout);
        let mut replaced = None;
        if let Some(t) = shard.map.get_mut(&key) {
            t.settle(now);
            if t.alive(now) && !t.flushed && t.mask == p.mask && valid(&t.dest) {
                t.n_control += 1;
                // `ip_vs_conn_put` of the template: its timer re-armed for
                // its own period.
                t.expires = t.expires.max(now.saturating_add(t.period));
                self.counted(i, &key, t.expires);
                return Some((t.dest, Link::new(i, t.slot, t.generation)));
            }
            replaced = Some(t.generation);
            shard.remove(&key);
        }
        let dest = pick()?;
        if !shard.room_for(&key) {
            return Some((dest, Link::NONE));
        }
        let (slot, last) = shard.take_slot();
        let generation = self.next_generation(last.or(replaced));
        let flags = (1, generation);
        shard.insert(want, dest, p.mask, (expires, p.timeout), flags, slot);
        self.counted(i, &key, expires);
        Some((dest, Link::new(i, slot, generation)))
    }

    /// A template received from a sync master (`ip_vs_proc_conn` of a
    /// template, `ip_vs_sync.c`): the client of `key` goes to `dest` until
    /// `expires` at least. A template to the same server is extended; a live
    /// one to another server is replaced only if `replace` (a standby takes
    /// the master's word; an active director keeps its own). One that is no
    /// longer alive at `now` (expired, no connection counted on it, waiting
    /// for the sweep), or of another netmask (the service's `-M` changed), is
    /// as none, as it is to [`Templates::schedule`] for a new connection. No
    /// connection is counted on the new one (a synced connection is, when
    /// its worker installs or updates it: [`Templates::adopt`]). Returns
    /// whether the template is now the one received.
    pub fn install<'a>(
        &self,
        want: impl Into<Wanted<'a, A>>,
        dest: TemplateDest<A>,
        mask: u32,
        now: u32,
        expires: u32,
        replace: bool,
    ) -> bool {
        let want = want.into();
        let key = want.key;
        let mut shard = self.lock(self.shard_of(&key));
        let mut replaced = None;
        if let Some(t) = shard.map.get_mut(&key) {
            // Its marks passed first: one re-armed is reported as such.
            t.settle(now);
            if t.dest == dest && t.mask == mask && !t.flushed {
                // The message's timeout is the template's from now on
                // (`ip_vs_proc_conn` sets `cp->timeout`): 60 s once the
                // master re-armed it. Its end is never brought forward.
                t.expires = t.expires.max(expires);
                t.period = expires.saturating_sub(now);
                return true;
            }
            if !replace && t.alive(now) && !t.flushed && t.mask == mask {
                return false;
            }
            replaced = Some(t.generation);
            shard.remove(&key);
        } else if !shard.room_for(&key) {
            return false;
        }
        let period = expires.saturating_sub(now);
        let (slot, last) = shard.take_slot();
        let generation = self.next_generation(last.or(replaced));
        shard.insert(want, dest, mask, (expires, period), (0, generation), slot);
        true
    }

    /// A connection installed by sync (a master's report, which the backup
    /// installs unlinked, as `ip_vs_proc_conn` does) is counted on `key`'s
    /// template if that is alive, of `mask`, and sends the client to `dest`,
    /// the connection's real server: the template then lives while the
    /// connection does, as it does on the master, and a report of the
    /// connection brings it (after a takeover, the resend sweep's). Returns
    /// the [`Link`] the connection holds to it and whether it is assured;
    /// `None` (nothing counted) where there is no such template.
    pub fn adopt(
        &self,
        key: TemplateKey<A>,
        dest: DestId,
        mask: u32,
        now: u32,
    ) -> Option<(Link, bool)> {
        let i = self.shard_of(&key);
        let mut shard = self.lock(i);
        let t = shard.map.get_mut(&key)?;
        t.settle(now);
        if !t.alive(now) || t.flushed || t.mask != mask || t.dest.id != dest {
            return None;
        }
        t.n_control += 1;
        let (link, assured) = (Link::new(i, t.slot, t.generation), t.assured);
        let expires = t.expires;
        self.counted(i, &key, expires);
        Some((link, assured))
    }

    /// Whether template `key` of `generation`, just used by a datagram of a
    /// one-packet-scheduling service (which leaves no connection to report
    /// it with), is due to be reported to the sync master at `now`: it never
    /// was, or was `period` seconds ago or more (0: once only). Marks it
    /// reported when it is.
    pub fn sync_due(&self, key: TemplateKey<A>, generation: u16, now: u32, period: u32) -> bool {
        let mut shard = self.lock(self.shard_of(&key));
        let Some(t) = shard.map.get_mut(&key) else {
            return false;
        };
        let due = t.generation == generation
            && match t.synced {
                None => true,
                Some(at) => period != 0 && now.saturating_sub(at) >= period,
            };
        if due {
            t.synced = Some(now);
        }
        due
    }

    /// A sync master says template `key` is assured
    /// (`ip_vs_control_assure_ct` on the master; a connection of this
    /// director's: [`Templates::assure_at`]).
    pub fn assure(&self, key: TemplateKey<A>) {
        if let Some(t) = self.lock(self.shard_of(&key)).map.get_mut(&key) {
            t.assured = true;
        }
    }

    /// The generation of `key`'s template, if there is one.
    pub fn generation(&self, key: TemplateKey<A>) -> Option<u16> {
        self.lock(self.shard_of(&key))
            .map
            .get(&key)
            .map(|t| t.generation)
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

    /// Add to `out` those of `ids` the real server of some template in the
    /// table is (expired ones the workers' sweep has not dropped yet too).
    pub fn naming(&self, ids: &hashbrown::HashSet<DestId>, out: &mut hashbrown::HashSet<DestId>) {
        for i in 0..TEMPLATE_SHARDS {
            let shard = self.lock(i);
            out.extend(
                shard
                    .map
                    .values()
                    .map(|t| t.dest.id)
                    .filter(|d| ids.contains(d)),
            );
        }
    }

    /// Append the live templates to a listing, at most `limit` entries in
    /// all; a SIP template's with its Call-ID (a copy made here, on the
    /// control thread).
    pub fn list(&self, now: u32, out: &mut Vec<ConnInfo>, limit: usize) {
        // Room made before a shard is held for the walk: a listing of a
        // million templates would otherwise grow (copy) its vector under a
        // shard's lock, which the workers scheduling persistent connections
        // wait on. The count includes expired templates not yet swept.
        let held: usize = (0..TEMPLATE_SHARDS).map(|i| self.lock(i).map.len()).sum();
        out.reserve(held.min(limit.saturating_sub(out.len())));
        self.for_each_live(now, |k, t, call, expires_in| {
            if out.len() >= limit {
                return ControlFlow::Break(());
            }
            let (dest, assured) = (t.dest, t.assured);
            let (proto, vip, vport) = k.svc;
            out.push(ConnInfo {
                proto,
                client: (k.client.to_ip(), 0),
                vip: (vip.to_ip(), vport),
                dest: (dest.addr.to_ip(), dest.port),
                state: State::None,
                expires_in,
                template: true,
                assured,
                pe: call.map(|c| (PersistEngine::Sip, c.as_bytes().into())),
            });
            ControlFlow::Continue(())
        });
    }

    /// Call `f` with each live template (key, the template, its Call-ID if
    /// it is a SIP one, seconds until it may expire) until it breaks:
    /// listings of any family.
    fn for_each_live(
        &self,
        now: u32,
        mut f: impl FnMut(&TemplateKey<A>, &Template<A>, Option<&PeData>, u32) -> ControlFlow<()>,
    ) {
        for i in 0..TEMPLATE_SHARDS {
            let shard = self.lock(i);
            for (k, t) in shard.map.iter().filter(|(_, t)| t.alive(now)) {
                if f(k, t, shard.calls.get(k), t.expires_in(now)).is_break() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::net::Ipv6Addr;

    /// The seconds a new connection extends `key`'s template by at `now`.
    fn period_of<A: Addr>(t: &Templates<A>, key: TemplateKey<A>, now: u32) -> Option<u32> {
        let mut shard = t.lock(t.shard_of(&key));
        let tp = shard.map.get_mut(&key)?;
        tp.settle(now);
        Some(tp.period)
    }

    pub(super) const P: Persist = Persist {
        timeout: 300,
        mask: 0xffff_ff00,
    };

    pub(super) fn key(client: u32) -> TemplateKey {
        TemplateKey {
            svc: (6, 10, 80),
            client: client & P.mask,
            pe: 0,
        }
    }

    pub(super) fn d(id: u32) -> TemplateDest {
        TemplateDest {
            id: DestId(id),
            addr: 100 + id,
            port: 80,
        }
    }

    /// One client's SIP calls take at most half of each shard: past that
    /// a call is scheduled without a template, and other clients still get
    /// theirs. Swept, the share comes back.
    #[test]
    fn a_persistence_engines_templates_take_half_the_room_at_most() {
        let t = Templates::default();
        let made = (0..MAX_TEMPLATES as u32)
            .filter(|&i| {
                let k = t.with_call_id(key(1), &i.to_le_bytes());
                let (_, g) = t.schedule(k, P, 0, |_| true, || Some(d(1))).unwrap();
                t.release_at(g, 0);
                g.generation != 0
            })
            .count();
        assert!(made <= PE_PER_SHARD * TEMPLATE_SHARDS, "{made}");
        assert!(made > PE_PER_SHARD * TEMPLATE_SHARDS * 9 / 10, "{made}");
        for c in 2..1000 {
            let (_, g) = t
                .schedule(key(c << 8), P, 0, |_| true, || Some(d(1)))
                .unwrap();
            assert_ne!(g.generation, 0, "client {c} got no template");
        }
        // All expired and swept: the share is free again.
        t.sweep_by(0, TEMPLATE_SHARDS, P.timeout + 1);
        let k = t.with_call_id(key(1), b"after");
        let (_, g) = t
            .schedule(k, P, P.timeout + 2, |_| true, || Some(d(1)))
            .unwrap();
        assert_ne!(g.generation, 0);
    }

    #[test]
    fn template_lives_while_controlled_and_until_timeout() {
        let t = Templates::default();
        let (a, g) = t.schedule(key(1), P, 0, |_| true, || Some(d(1))).unwrap();
        assert_eq!(a, d(1));
        assert_ne!(g.generation, 0);
        // Same /24, later: the template wins over the scheduler.
        let (b, g2) = t.schedule(key(2), P, 10, |_| true, || Some(d(2))).unwrap();
        assert_eq!((b, g2), (d(1), g));
        // Both connections leave before its timeout: it lives to 310.
        t.release_at(g, 100);
        t.release_at(g, 200);
        assert_eq!(t.len(309), 1);
        assert_eq!(t.len(310), 0);
        // An expired template is replaced by the scheduler's choice.
        let (c, g3) = t.schedule(key(1), P, 400, |_| true, || Some(d(2))).unwrap();
        assert_eq!(c, d(2));
        assert_ne!(g3, g);
        // A release of the old generation does not uncount the new template.
        t.release_at(g, 401);
        t.release_at(g3, 402);
        assert_eq!(t.len(699), 1);
        assert_eq!(t.len(700), 0);
    }

    /// `ip_vs_conn_expire`'s `expire_later`: a template whose timeout runs
    /// out while it controls a connection is re-armed for 60 s at each mark
    /// (300, 360, 420, ...), goes at the first mark after its last
    /// connection left, and from then on a new connection extends it by
    /// 60 s, not by `-p`.
    #[test]
    fn a_template_outliving_its_timeout_is_rearmed_for_sixty_seconds() {
        let t = Templates::default();
        let (_, g) = t.schedule(key(1), P, 0, |_| true, || Some(d(1))).unwrap();
        let listed = |now| {
            let mut l = vec![];
            t.list(now, &mut l, 10);
            l.first().map(|c| c.expires_in)
        };
        assert_eq!(listed(100), Some(200));
        // Past 300 with its connection: the 60-second countdown shows.
        assert_eq!(listed(300), Some(60));
        assert_eq!(listed(350), Some(10));
        assert_eq!(listed(365), Some(55));
        // The connection leaves at 365: the template lives to the mark at 420.
        t.release_at(g, 365);
        assert_eq!(t.len(419), 1);
        assert_eq!(listed(400), Some(20));
        // A new connection at 400 extends it to 460 (its period is 60 now).
        let (a, g2) = t.schedule(key(1), P, 400, |_| true, || Some(d(2))).unwrap();
        assert_eq!((a, g2), (d(1), g));
        assert_eq!(listed(400), Some(60));
        t.release_at(g, 401);
        assert_eq!(t.len(459), 1);
        assert_eq!(t.len(460), 0);
    }

    /// A reporting sweep (`due`) takes in, beside its range, the shard of a
    /// template that ran out while counting a connection, at that second:
    /// it is handed over at its re-arm, not when the range comes round; one
    /// not taken, the next second; none before it is due.
    #[test]
    fn a_reporting_sweep_takes_in_the_shard_of_a_template_re_armed_now() {
        let t = Templates::default();
        let i = t.shard_of(&key(1));
        let (first, n) = ((i + 1) % TEMPLATE_SHARDS, TEMPLATE_SHARDS - 1);
        let (_, g) = t.schedule(key(1), P, 0, |_| true, || Some(d(1))).unwrap();
        // A second client, its connection gone, lives on: nothing to re-arm.
        let k2 = (2..)
            .map(|c| key(c << 8))
            .find(|k| t.shard_of(k) != i)
            .unwrap();
        let long = Persist {
            timeout: 10_000,
            ..P
        };
        let (_, g2) = t.schedule(k2, long, 0, |_| true, || Some(d(2))).unwrap();
        t.release_at(g2, 1);
        let sweep = |now, due, taken: bool| {
            let mut got = vec![];
            // Every shard but key(1)'s.
            let budget = if due { TEMPLATE_SHARDS } else { 0 };
            t.sweep_reporting((first, n, budget), now, |r| {
                got.push(r.key);
                taken
            });
            got
        };
        assert_eq!(sweep(299, true, true), vec![], "not due yet");
        // At 300 the -p ran out with the connection: re-armed, handed over.
        assert_eq!(sweep(300, false, true), vec![], "out of range");
        assert_eq!(sweep(300, true, false), vec![key(1)], "refused");
        assert_eq!(sweep(301, true, true), vec![key(1)], "again");
        assert_eq!(sweep(302, true, true), vec![], "taken: due at 360");
        assert_eq!(sweep(360, true, true), vec![key(1)]);
        // Its connection left at 361: the template goes at the mark at 420
        // (swept then, not handed over), and nothing brings the shard in.
        t.release_at(g, 361);
        assert_eq!(sweep(419, true, true), vec![]);
        assert_eq!(sweep(420, true, true), vec![], "gone");
        assert_eq!(t.len(420), 1, "k2's alone");
        // A synced connection counted on a template (`adopt`) makes it due.
        assert!(t.install(key(1), d(1), P.mask, 500, 560, true));
        let (g, _) = t.adopt(key(1), DestId(1), P.mask, 530).unwrap();
        assert_eq!(sweep(560, true, true), vec![key(1)]);
        // Its connection gone and the shard swept, a new one on it (at 570,
        // to 630) makes it due again.
        t.release_at(g, 561);
        t.sweep_by(i, 1, 562);
        t.schedule(key(1), P, 570, |_| true, || None).unwrap();
        assert_eq!(sweep(629, true, true), vec![]);
        assert_eq!(sweep(630, true, true), vec![key(1)]);
    }

    /// The shards a reporting sweep takes in beyond its range hold at most
    /// its budget of templates: the rest wait for the next second.
    #[test]
    fn a_reporting_sweep_takes_in_no_more_than_its_budget() {
        for (budget, at) in [(2, [300, 300]), (1, [300, 301])] {
            let t = Templates::default();
            let a = key(1);
            let b = (2..)
                .map(|c| key(c << 8))
                .find(|k| t.shard_of(k) != t.shard_of(&a))
                .unwrap();
            for k in [a, b] {
                t.schedule(k, P, 0, |_| true, || Some(d(1))).unwrap();
            }
            let mut got = vec![];
            for now in 299..=301 {
                t.sweep_reporting((0, 0, budget), now, |_| {
                    got.push(now);
                    true
                });
            }
            assert_eq!(got, at, "budget {budget}");
        }
    }

    /// A SIP template, let go as soon as it is made, leaves its shard's
    /// `due` alone; another template counting a connection brings it to
    /// its end.
    #[test]
    fn a_sip_template_does_not_make_its_shard_due() {
        let t = Templates::default();
        let sip = t.with_call_id(key(1), b"call-1");
        let i = t.shard_of(&sip);
        let (_, g) = t.schedule(sip, P, 0, |_| true, || Some(d(1))).unwrap();
        t.release_at(g, 0);
        assert_eq!(t.due[i].load(Relaxed), u32::MAX);
        let k = (1..)
            .map(|c| key(c << 8))
            .find(|k| t.shard_of(k) == i)
            .unwrap();
        t.schedule(k, P, 5, |_| true, || Some(d(1))).unwrap();
        assert_eq!(t.due[i].load(Relaxed), 305);
    }

    /// A connection finds its template by its link alone: a stale link
    /// (its template gone, its place taken by another template since) finds
    /// nothing, for the new template has another generation than the one
    /// that held the place, and a live link finds its own whatever other
    /// templates its client's key would name now.
    #[test]
    fn a_link_names_its_own_template_and_no_later_one() {
        let t = Templates::default();
        let (_, la) = t.schedule(key(1), P, 0, |_| true, || Some(d(1))).unwrap();
        t.release_at(la, 1);
        t.sweep_by(0, TEMPLATE_SHARDS, P.timeout + 1);
        assert_eq!(t.len(P.timeout + 1), 0);
        // The next template of that shard takes the vacant place.
        let i = la.at >> 14;
        let k = (2..)
            .map(|c| key(c << 8))
            .find(|k| t.shard_of(k) as u32 == i)
            .unwrap();
        let (_, lb) = t.schedule(k, P, 400, |_| true, || Some(d(2))).unwrap();
        assert_eq!(lb.at, la.at);
        assert_ne!(lb.generation, la.generation);
        t.release_at(la, 401);
        t.assure_at(la);
        assert!(t.current_at(la, 401).is_none());
        assert_eq!(t.len(400 + P.timeout), 1, "b still counts its connection");
        assert!(t.current_at(lb, 401).is_some());
        t.release_at(lb, 402);
        assert_eq!(t.len(400 + P.timeout), 0);
    }

    /// A template replaced at its key (here by a `-M` change) never gets the
    /// generation of the one it replaces, which a connection may still
    /// count on, even when the draw comes round to it.
    #[test]
    fn a_replacing_template_never_takes_the_generation_it_replaces() {
        let (m1, m2) = (u32::MAX, 0xffff_ff00);
        let k = |m| TemplateKey::new((6, 10, 80), 0x0a00_0100, m);
        let t = Templates::default();
        let (_, g) = t
            .schedule(k(m1), Persist { mask: m1, ..P }, 0, |_| true, || Some(d(1)))
            .unwrap();
        for n in 0..u32::from(TEMPLATE_ASSURED) - 2 {
            let other = TemplateKey::new((17, 20, 53), n, m1);
            assert!(t.install(other, d(3), m1, 0, 1, true));
        }
        let (_, g2) = t
            .schedule(k(m2), Persist { mask: m2, ..P }, 0, |_| true, || Some(d(2)))
            .unwrap();
        assert_ne!(g, g2);
        // The old connection leaving leaves the new template its own (it
        // took the old one's place).
        assert_eq!(g.at, g2.at);
        t.release_at(g, 1);
        assert_eq!(
            t.len(300),
            1,
            "the new template still counts its connection"
        );
        // Nor does a synced report's template that replaces one.
        let g2 = t.generation(k(m2));
        for n in 0..u32::from(TEMPLATE_ASSURED) - 2 {
            let other = TemplateKey::new((17, 30, 53), n, m1);
            assert!(t.install(other, d(3), m1, 0, 1, true));
        }
        assert!(t.install(k(m2), d(1), m2, 0, 300, true));
        assert!(g2.is_some());
        assert_ne!(t.generation(k(m2)), g2);
    }

    /// A template of a director that is master and backup at once,
    /// counting a connection past its mark when the other's report of it
    /// comes: it was re-armed there, and the sweep hands it over, where
    /// the report's end, pushed first, hid the mark.
    #[test]
    fn a_synced_report_does_not_hide_a_passed_mark() {
        let t = Templates::default();
        t.schedule(key(1), P, 0, |_| true, || Some(d(1))).unwrap();
        assert!(t.install(key(1), d(1), P.mask, 310, 400, false));
        let mut got = vec![];
        t.sweep_reporting((0, TEMPLATE_SHARDS, 0), 310, |r| {
            got.push(r.key);
            true
        });
        assert_eq!(got, [key(1)]);
        assert_eq!(period_of(&t, key(1), 310), Some(90));
    }

    /// A template whose server `valid` refuses (IPVS's
    /// `ip_vs_check_template` failing: the server gone, unavailable, or
    /// another than the connection's) is replaced by one to the server
    /// `pick` chooses, and only that one is listed. A deliberate
    /// difference: the kernel keeps the old one, marked invalid (its ports
    /// 0xffff, rehashed where no lookup finds it), listed, bound to its
    /// server and counting its connections until they leave and its timer
    /// runs out; ringvs drops it at once, as a shard holds one template a
    /// key (`docs/design.md`, "Known gaps").
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
        assert_eq!(
            l[0].dest.0,
            std::net::IpAddr::from(std::net::Ipv4Addr::from(102))
        );
        assert_eq!(l[0].expires_in, 300);
        // Nothing to pick: no template.
        assert!(t.schedule(key(9 << 8), P, 1, |_| true, || None).is_none());
        assert_eq!(t.len(1), 1);
    }

    /// Templates of either family: clients of one masked group share one,
    /// another group gets its own; listings see them; the sweep keeps them
    /// while they count connections, whatever the rules.
    fn masked_clients_share_a_template<A: crate::nat::addr::TestAddr>() {
        let p = Persist {
            timeout: 300,
            mask: A::MASK24,
        };
        let svc = (6, A::host(110), 80);
        let key = |n| TemplateKey::new(svc, A::host(n), p.mask);
        let dest = |id: u32| TemplateDest {
            id: DestId(id),
            addr: A::host(1 << 16 | id),
            port: 80,
        };
        assert_eq!(key(0x101), key(0x1ff));
        assert_ne!(key(0x101), key(0x201));
        let t = Templates::<A>::default();
        let (a, g) = t
            .schedule(key(0x101), p, 0, |_| true, || Some(dest(1)))
            .unwrap();
        let (b, g2) = t
            .schedule(key(0x1ff), p, 1, |_| true, || Some(dest(2)))
            .unwrap();
        assert_eq!((a, b, g), (dest(1), dest(1), g2));
        let (c, g3) = t
            .schedule(key(0x201), p, 1, |_| true, || Some(dest(2)))
            .unwrap();
        assert_eq!(c, dest(2));
        let mut seen = vec![];
        t.for_each_live(1, |k, d, _, expires_in| {
            seen.push((k.client, d.dest.id, expires_in));
            ControlFlow::Continue(())
        });
        seen.sort_by_key(|s| s.1.0);
        // The first was extended by its second connection, at second 1.
        assert_eq!(
            seen,
            [
                (A::host(0x100), DestId(1), 300),
                (A::host(0x200), DestId(2), 300)
            ]
        );
        let mut first = 0;
        t.for_each_live(1, |_, _, _, _| {
            first += 1;
            ControlFlow::Break(())
        });
        assert_eq!(first, 1);
        t.sweep_by(0, TEMPLATE_SHARDS, 1000);
        assert_eq!(t.len(1000), 2);
        // Left at 1000, re-armed at 961: gone at its next mark, 1021.
        for l in [g, g2, g3] {
            t.release_at(l, 1000);
        }
        t.sweep_by(0, TEMPLATE_SHARDS, 1019);
        assert_eq!(t.len(1019), 2);
        t.sweep_by(0, TEMPLATE_SHARDS, 1021);
        assert_eq!(t.len(1021), 0);
    }

    #[test]
    fn masked_clients_share_a_template_v4() {
        masked_clients_share_a_template::<u32>();
    }

    #[test]
    fn masked_clients_share_a_template_v6() {
        masked_clients_share_a_template::<Ipv6Addr>();
    }

    /// For IPv6, `-M` is a prefix length (ipvsadm(8), `--netmask`; the kernel
    /// keys the template by `ipv6_addr_prefix` of the client in
    /// `ip_vs_sched_persist`, `ip_vs_core.c`).
    #[test]
    fn ipv6_templates_key_by_prefix_length() {
        let ip = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let svc = (17, ip("2001:2:0:1::110"), 53);
        let (a, b, c) = (
            ip("2001:2:0:1::1"),
            ip("2001:2:0:1:ffff::2"),
            ip("2001:2:0:3::1"),
        );
        let key = |x, m| TemplateKey::new(svc, x, m);
        assert_eq!(key(a, 64), key(b, 64));
        assert_eq!(key(a, 64).client, ip("2001:2:0:1::"));
        assert_ne!(key(a, 64), key(c, 64));
        assert_eq!(key(a, 48), key(c, 48));
        assert_ne!(key(a, 128), key(b, 128));
        let p = Persist {
            timeout: 60,
            mask: 64,
        };
        let dest = |id: u32, addr| TemplateDest {
            id: DestId(id),
            addr: ip(addr),
            port: 53,
        };
        let t = Templates::<Ipv6Addr>::default();
        let r2 = dest(1, "2001:2:0:2::2");
        let r3 = dest(2, "2001:2:0:2::3");
        let sched = |k, r| {
            let (d, l) = t.schedule(k, p, 0, |_| true, || Some(r)).unwrap();
            (d, l)
        };
        let (_, la) = sched(key(a, 64), r2);
        assert_eq!(sched(key(b, 64), r3), (r2, la));
        let (got, lc) = sched(key(c, 64), r3);
        assert_eq!((got, lc.generation), (r3, 2));
        // A synced template for the third client's /64 extends its own.
        assert!(t.install(key(c, 64), r3, 64, 0, 100, false));
        assert!(!t.install(key(c, 64), r2, 64, 0, 100, false));
        t.release_at(lc, 0);
        assert_eq!(t.len(99), 2);
        assert_eq!(t.len(100), 1);
    }

    /// An active director keeps a live template of its own against a
    /// master's to another server, but one that expired (no connection on
    /// it, not swept yet) or has another netmask is as none: the master's
    /// replaces it, as the next new connection would have by scheduling.
    #[test]
    fn an_expired_template_does_not_keep_out_a_synced_one() {
        let t = Templates::<u32>::default();
        let k = TemplateKey::new((6, 0xc612_006e, 443), 0xc612_0001, 0xffff_ff00);
        let dest = |id: u32, addr| TemplateDest {
            id: DestId(id),
            addr,
            port: 443,
        };
        let (r1, r2) = (dest(0, 0xc613_0002), dest(1, 0xc613_0003));
        assert!(t.install(k, r1, 0xffff_ff00, 0, 10, false));
        // Live at 9: kept against another server, extended for its own.
        assert!(!t.install(k, r2, 0xffff_ff00, 9, 20, false));
        assert!(t.install(k, r1, 0xffff_ff00, 9, 15, false));
        // Another netmask (the service's `-M` changed): replaced.
        assert!(t.install(k, r2, 0xffff_0000, 9, 20, false));
        assert!(t.install(k, r1, 0xffff_ff00, 9, 15, false));
        // Expired at 15 (still in the map until swept): replaced.
        assert!(t.install(k, r2, 0xffff_ff00, 15, 40, false));
        let mut listed = Vec::new();
        t.list(15, &mut listed, 8);
        assert_eq!(listed.len(), 1);
        assert_eq!(
            listed[0].dest.0,
            std::net::IpAddr::from(std::net::Ipv4Addr::from_bits(0xc613_0003))
        );
        assert_eq!(listed[0].expires_in, 25);
    }

    /// A template installed again to the same server takes the message's
    /// timeout as its own (`ip_vs_proc_conn` sets `cp->timeout`): after the
    /// master's re-arm report (60 s), a new connection on the backup
    /// extends it by 60 s, not by the `-p` it came with.
    #[test]
    fn a_synced_template_takes_each_reports_timeout() {
        let t = Templates::<u32>::default();
        assert!(t.install(key(1), d(1), P.mask, 0, 1800, true));
        assert_eq!(period_of(&t, key(1), 10), Some(1800));
        assert!(t.install(key(1), d(1), P.mask, 100, 160, true));
        assert_eq!(period_of(&t, key(1), 110), Some(60));
        let mut listed = Vec::new();
        t.list(110, &mut listed, 8);
        assert_eq!(listed[0].expires_in, 1690, "its end not brought forward");
    }

    /// A synced connection is counted on the synced template of its client
    /// and server only: then the template lives while it does (re-armed as
    /// IPVS's `expire_later`), and goes at the first mark after it left.
    #[test]
    fn a_synced_connection_adopts_only_its_own_live_template() {
        let t = Templates::<u32>::default();
        assert_eq!(t.adopt(key(1), DestId(1), P.mask, 0), None, "no template");
        assert!(t.install(key(1), d(1), P.mask, 0, 10, true));
        let g = t.generation(key(1)).expect("installed");
        assert_eq!(
            t.adopt(key(1), DestId(2), P.mask, 1),
            None,
            "another server"
        );
        assert_eq!(
            t.adopt(key(1), DestId(1), 0xffff_0000, 1),
            None,
            "another -M"
        );
        t.assure(key(1));
        let (l, assured) = t.adopt(key(1), DestId(1), P.mask, 1).unwrap();
        assert_eq!((l.generation, assured), (g, true));
        // Past its 10 s, it lives while the connection does.
        assert_eq!(t.len(500), 1);
        t.release_at(l, 500);
        assert_eq!(t.len(500 + EXPIRE_LATER), 0);
        // Expired with no connection: nothing to adopt.
        assert_eq!(t.adopt(key(1), DestId(1), P.mask, 1000), None);
    }

    /// The shard of a key is drawn by a keyed hash: two tables (two
    /// processes) put the same keys in other shards, so no client can aim
    /// at one (an unkeyed mix put them in the same ones).
    #[test]
    fn shards_are_keyed_per_table() {
        let (t, u) = (Templates::<u32>::default(), Templates::<u32>::default());
        let of = |t: &Templates| {
            (1..=64)
                .map(|c| t.shard_of(&key(c << 8)))
                .collect::<Vec<_>>()
        };
        assert_ne!(of(&t), of(&u));
    }

    /// Clients that differ only in their /64 (the usual IPv6 persistence
    /// mask) spread over the shards as IPv4 clients of distinct /24s do.
    #[test]
    fn ipv6_prefixes_spread_over_the_shards() {
        use std::collections::HashSet;
        let vip = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
        let (t6, t) = (Templates::<Ipv6Addr>::default(), Templates::default());
        let v6: HashSet<usize> = (0..1024u16)
            .map(|n| {
                let client = Ipv6Addr::new(0x2001, 2, 0, n, 0, 0, 0, 1);
                t6.shard_of(&TemplateKey::new((6, vip, 80), client, 64))
            })
            .collect();
        let v4: HashSet<usize> = (0..1024u32)
            .map(|n| {
                t.shard_of(&TemplateKey::new(
                    (6, 0xc612_006e, 80),
                    0xc612_0001 + (n << 8),
                    P.mask,
                ))
            })
            .collect();
        assert_eq!(v6.len(), TEMPLATE_SHARDS);
        assert_eq!(v4.len(), TEMPLATE_SHARDS);
    }

    /// A SIP template keeps its Call-ID beside it, for listings; a
    /// template without an engine keeps none, a Call-ID given or not; the
    /// Call-ID goes with its template, replaced or swept.
    #[test]
    fn a_call_id_lives_and_goes_with_its_template() {
        let t = Templates::<u32>::default();
        let calls = |t: &Templates| {
            (0..TEMPLATE_SHARDS)
                .map(|i| t.lock(i).calls.len())
                .sum::<usize>()
        };
        let listed = |t: &Templates, now| {
            let mut l = vec![];
            t.list(now, &mut l, 10);
            l.into_iter()
                .filter_map(|c| Some((c.dest.0, c.pe?)))
                .collect::<Vec<_>>()
        };
        let ip = |id: u32| std::net::IpAddr::from(std::net::Ipv4Addr::from(100 + id));
        let sip = Wanted {
            key: t.with_call_id(key(1), b"call@ua"),
            call_id: Some(&b"call@ua"[..]),
        };
        let (_, g) = t.schedule(sip, P, 0, |_| true, || Some(d(1))).unwrap();
        t.release_at(g, 0);
        let plain = Wanted {
            key: key(0x200),
            call_id: Some(&b"not kept"[..]),
        };
        let (_, g2) = t.schedule(plain, P, 0, |_| true, || Some(d(1))).unwrap();
        t.release_at(g2, 0);
        assert_eq!(calls(&t), 1);
        let sip_of = |id| vec![(ip(id), (PersistEngine::Sip, b"call@ua".to_vec().into()))];
        assert_eq!(listed(&t, 0), sip_of(1));
        // Replaced (its server is no longer valid): the new one's.
        let (_, g) = t.schedule(sip, P, 1, |_| false, || Some(d(2))).unwrap();
        t.release_at(g, 1);
        assert_eq!(calls(&t), 1);
        assert_eq!(listed(&t, 1), sip_of(2));
        t.sweep_by(0, TEMPLATE_SHARDS, 1000);
        assert_eq!((t.len(1000), calls(&t)), (0, 0));
    }
}
