//! A worker's connection table.
//!
//! Connections live in a slab (`Vec<Conn>`, its capacity allocated once at start;
//! freed entries are chained through their list link and reused). Lookups go
//! through an open-addressing index of its own: a power-of-two array of `u32`
//! slots, each holding a slab index, the direction (which of the connection's two
//! [`FlowKey`]s the slot stands for) and a few bits of the key's hash as a tag.
//! The keys themselves are not stored: they are rebuilt from the [`Conn`] when a
//! tag matches. Probing is linear and removal shifts the following slots back
//! (no tombstones), so the index never fills up with dead entries, never rehashes
//! and never grows: nothing in this table allocates after [`ConnTable::with_capacity`].
//! Keys are hashed with foldhash's `quality` hasher, seeded at random per table,
//! so clients cannot choose ports that pile up on one probe run. (Its `fast`
//! variant, hashbrown's default, let keys that differ only in a sequential
//! port cluster under some seeds: `probe_ahead_names_the_entry_the_lookup_finds`
//! failed in about one run in ten with it.)
//!
//! Memory per connection: a 36-byte [`Conn`] plus two slots of 4 bytes at a load
//! of at most 3/4, and the 4 bytes of its template's place beside the slab
//! (`link.rs`), i.e. 40 + 16..22 bytes (`tests/alloc.rs` measures it).
//! IPv6 connections live in a table of their own, `ConnTable<Ipv6Addr>` (see
//! [`Addr`]), whose 72-byte entries make it 76 + 16..22 bytes per connection:
//! the index is the same, and IPv4 entries do not grow for IPv6's sake.
//!
//! Every connection sits on the expiry list of its state: a doubly linked list
//! through the slab whose head is the stalest entry and whose tail the freshest,
//! so expiry pops from the heads and never scans the table (one kept past its
//! timeout because it controls others sits on the list of re-arms instead,
//! until a packet: `later.rs`). Moving an entry to
//! its list's tail touches its neighbours' entries, two cache misses with a
//! large table, so a packet that leaves the state unchanged moves it only once
//! [`slack`] seconds have passed since it was last moved (times are whole
//! seconds): at most every 1 + min(timeout / 16, [`MAX_SLACK`]) seconds per
//! connection. Such a packet still sets `seen` (the entry's line is in the
//! cache), and records in the entry how far `seen` ran ahead of its place in
//! the list (its *lag*, at most the slack, in the spare top bits of the links).
//! The lists are ordered by the time each entry was linked; a connection
//! expires exactly `timeout` seconds after its last packet once it is a head,
//! and an expired connection waits behind an unexpired head at most that
//! head's lag. So a connection never expires early and at most `slack`
//! seconds late: exact for timeouts under 16 s (CLOSE), at most 3 s late for
//! SYN_RECV's 60 s, 14 s for ESTABLISHED's 900 s and UDP's 300 s.
//!
//! A full table makes room for a new connection by evicting one transitory
//! entry ([`ConnTable::evict_one`]): the stalest of the heads of the lists of
//! [`State::is_evictable`] states (SYN_RECV, TIME_WAIT, CLOSE, …), or else a UDP
//! entry idle for [`UDP_EVICT_IDLE`] seconds, of the UDP list's first few.
//! ESTABLISHED connections and UDP flows with recent traffic are never evicted:
//! a SYN flood recycles its own half-open entries and cannot push out working
//! connections. Choosing costs a look at a dozen list heads, never a scan. A connection kept past its
//! timeout for the ones it controls is on no state's list, so never evicted,
//! as IPVS's `ip_vs_random_dropentry` passes over any whose `n_control` is
//! not 0 (one not yet past its timeout is not looked up: `docs/tcp-states.md`).

use super::state::{STATES, State, Timeouts};

/// Slots of a probe run [`ConnTable::prefetch_entry`] walks at most to find
/// the one that names the entry to ask for. With linear probing, a simulation
/// of the insertions puts 25 % of the keys past their first slot at half load
/// (a full table whose slots rounded up to twice its keys), 3 % more than
/// three slots past and 0.03 % more than fifteen; at the highest load, 3/4,
/// 37 %, 11 % and 1.6 %. A key whose entry is not asked for costs a whole
/// DRAM latency when its frame comes; the walk costs a compare a slot, in
/// the line the first slot is in, mostly.
const PROBE_AHEAD: usize = 16;

/// How many slots past a key's first slot [`ConnTable::prefetch_slot`] asks
/// for a second line (16 slots share a line): runs longer than this are rare
/// (`PROBE_AHEAD`'s simulation: 3 % of the keys at half load, 11 % at 3/4).
const LINE_AHEAD: usize = 4;

/// A UDP flow idle this many seconds may be evicted to make room (with recent
/// traffic it is kept like an established TCP connection).
pub const UDP_EVICT_IDLE: u32 = 30;

/// Entries of the UDP list eviction looks at for an idle one: the head may
/// have been touched within its slack (up to [`MAX_SLACK`] s after its place).
const UDP_EVICT_LOOK: usize = 8;

/// The most seconds an entry's `seen` runs ahead of its place in its list (the
/// lag fits the 4 spare bits of its two links, whose last value, [`KEPT`],
/// marks an entry on the re-arms).
pub const MAX_SLACK: u32 = 14;

/// The lag that marks a connection kept past its timeout, on the list of
/// re-arms (`later.rs`): no real lag reaches it, and a packet always moves
/// such an entry back to its state's list. [`Conn::kept`] reads it.
pub(super) const KEPT: u32 = MAX_SLACK + 1;
const _: () = assert!(KEPT < 16, "the lag has 4 bits");

/// How many seconds after an entry was linked a packet in the same state may
/// come without moving it to its list's tail, for a state whose timeout is
/// `limit` seconds; also how late expiry may be. A sixteenth of the timeout,
/// at most [`MAX_SLACK`].
#[inline]
pub fn slack(limit: u32) -> u32 {
    (limit / 16).min(MAX_SLACK)
}
mod later;
mod link;

use super::addr::Addr;
pub use super::conn::{Conn, FlowKey};
use super::conn::{FREE, NIL};
use crate::config::DestId;
pub use later::EXPIRE_LATER;
use std::hash::BuildHasher;

#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    /// Link entry `idx` of `slab` at this list's tail (its lag cleared).
    #[inline]
    fn push_tail<A: Addr>(&mut self, slab: &mut [Conn<A>], idx: u32) {
        let old_tail = self.tail;
        self.tail = idx;
        if old_tail == NIL {
            self.head = idx;
        } else {
            slab[old_tail as usize].set_next(idx);
        }
        let c = &mut slab[idx as usize];
        c.prev = old_tail;
        c.next = NIL;
    }
}

/// Why a connection could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The table holds its maximum.
    Full,
    /// One of its keys belongs to another connection already.
    Clash,
}

/// What `expire` and `remove` report for each connection that left the table.
pub type Gone = (DestId, State);

/// The largest table [`ConnTable::with_capacity`] makes: a slot packs the slab
/// index, the direction and at least one tag bit into 32 bits, and the indices
/// stay below the list links' `NIL` and `FREE`.
pub const MAX_CONNS: usize = (1 << 30) - 2;

/// An index slot holding nothing. No used slot equals it: its index field is below
/// `max`, which is below the all-ones index.
const EMPTY: u32 = u32::MAX;

/// A table of connections of one address family (`u32`: IPv4, the default;
/// or `Ipv6Addr`).
pub struct ConnTable<A = u32> {
    /// The index: `EMPTY`, or `tag | slab index << 1 | side` (see `place`).
    slots: Box<[u32]>,
    /// `slots.len() - 1` (a power of two minus one).
    mask: usize,
    /// The index field of a slot, shifted down.
    idx_mask: u32,
    /// The tag bits of a slot (the top bits, above the index and the side).
    tag_mask: u32,
    hasher: foldhash::quality::RandomState,
    slab: Vec<Conn<A>>,
    /// Per slab entry, where the persistence template its connection is
    /// counted on is (`link.rs`), out of the entry the fast path reads.
    links: Vec<u32>,
    /// Head of the free slab entries, chained through `Conn::next`.
    free: u32,
    len: usize,
    lists: [List; STATES],
    /// Connections per state.
    counts: [u32; STATES],
    max: usize,
    /// Connections kept past their timeout, out of their states' lists,
    /// each due again 60 s after it was kept, oldest first (`later.rs`).
    later: List,
}

/// Index slots for `max` connections: two keys per connection at a load
/// of at most 3/4, and always one slot empty, which ends every probe.
fn index_slots(max: usize) -> usize {
    (max * 8)
        .div_ceil(3)
        .saturating_add(1)
        .next_power_of_two()
        .max(8)
}

impl<A: Addr> ConnTable<A> {
    /// A table for at most `max` connections, allocated now.
    ///
    /// # Panics
    /// If `max` exceeds [`MAX_CONNS`].
    pub fn with_capacity(max: usize) -> Self {
        Self::with_capacity_hinted(max, |_, _| {})
    }

    /// [`ConnTable::with_capacity`], first telling `hint` (address, bytes) where
    /// the index and the slab will live, before any of it is touched: the data
    /// plane asks the kernel for huge pages there (`io::ring::advise_huge`), so
    /// a lookup in a big table misses the TLB far less often.
    ///
    /// # Panics
    /// If `max` exceeds [`MAX_CONNS`].
    pub fn with_capacity_hinted(max: usize, hint: impl Fn(usize, usize)) -> Self {
        assert!(
            max <= MAX_CONNS,
            "at most {MAX_CONNS} connections per table"
        );
        let slots = index_slots(max);
        let idx_bits = usize::BITS - max.leading_zeros();
        let mut index: Vec<u32> = Vec::with_capacity(slots);
        let slab: Vec<Conn<A>> = Vec::with_capacity(max);
        hint(index.as_ptr() as usize, slots * size_of::<u32>());
        hint(slab.as_ptr() as usize, max * size_of::<Conn<A>>());
        index.resize(slots, EMPTY);
        Self {
            slots: index.into_boxed_slice(),
            mask: slots - 1,
            idx_mask: (1 << idx_bits) - 1,
            tag_mask: u32::MAX << (idx_bits + 1),
            hasher: foldhash::quality::RandomState::default(),
            slab,
            links: Vec::with_capacity(max),
            free: NIL,
            len: 0,
            lists: [List {
                head: NIL,
                tail: NIL,
            }; STATES],
            counts: [0; STATES],
            max,
            later: List {
                head: NIL,
                tail: NIL,
            },
        }
    }

    /// The bytes a table of `max` connections allocates: its index and its
    /// slab (what `--max-conns` costs a worker, per family).
    pub fn bytes_for(max: usize) -> u64 {
        let per = size_of::<Conn<A>>() + size_of::<u32>();
        (index_slots(max) * size_of::<u32>()) as u64 + (max * per) as u64
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most connections the table holds.
    pub fn capacity(&self) -> usize {
        self.max
    }

    /// Connections in each state, indexed by `State as usize`.
    pub fn counts(&self) -> &[u32; STATES] {
        &self.counts
    }

    #[inline]
    fn hash(&self, key: &FlowKey<A>) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The slot value of `key` (hashed to `h`) for slab entry `idx`.
    #[inline]
    fn slot_value(&self, h: u64, idx: u32, side: u32) -> u32 {
        ((h >> 32) as u32 & self.tag_mask) | idx << 1 | side
    }

    /// What a slot naming a key of hash `h` on `side` holds under `meta`
    /// (its tag and side bits), and `meta`: a slot `s` may name it when
    /// `s & meta == want` (`find` then compares the keys).
    #[inline(always)]
    fn tag_of(&self, h: u64, side: u8) -> (u32, u32) {
        let meta = self.tag_mask | 1;
        (self.slot_value(h, 0, u32::from(side)), meta)
    }

    /// Where the slot's key hashes to (its probe sequence's start).
    #[inline]
    fn home(&self, s: u32) -> usize {
        let c = &self.slab[((s >> 1) & self.idx_mask) as usize];
        self.hash(&c.key(s & 1)) as usize & self.mask
    }

    #[inline(always)]
    fn find(&self, key: &FlowKey<A>, h: u64) -> Option<u32> {
        // Tag and side must match before the key is rebuilt from the slab entry.
        let (want, meta) = self.tag_of(h, key.side);
        let mut i = h as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if s & meta == want {
                let idx = (s >> 1) & self.idx_mask;
                if self.slab[idx as usize].key(s & 1) == *key {
                    return Some(idx);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline(always)]
    pub fn lookup(&self, key: &FlowKey<A>) -> Option<u32> {
        self.find(key, self.hash(key))
    }

    /// The hash [`ConnTable::lookup`] would compute for `key`, for the two
    /// prefetch steps of a burst and [`ConnTable::lookup_hashed`].
    #[inline]
    pub fn hash_key(&self, key: &FlowKey<A>) -> u64 {
        self.hash(key)
    }

    /// [`ConnTable::lookup`] with the hash already computed (`h` must be
    /// [`ConnTable::hash_key`] of `key`).
    #[inline(always)]
    pub fn lookup_hashed(&self, key: &FlowKey<A>, h: u64) -> Option<u32> {
        self.find(key, h)
    }

    /// Prefetch, step 1: ask the CPU to bring in the first index slot a
    /// lookup of hash `h` probes. A hint (`prefetch_index`: a prefetch
    /// instruction, which neither faults nor waits), so the miss overlaps
    /// with the work that follows.
    ///
    /// Also the line [`LINE_AHEAD`] slots further: a probe run that starts
    /// near the end of its line goes on in the next one, where the walk of
    /// step 2 would otherwise wait for DRAM: 2–5 % of the keys at the load
    /// of a million connections (test `prefetched_lines_hold_the_probe_runs`),
    /// and a demand miss there stalls the core for the whole latency. Asked
    /// for every key, not only those near a line's end: the prefetch costs
    /// one instruction (a second request for the same line is merged), a
    /// branch on the slot's place would mispredict for a quarter of them.
    #[inline]
    pub fn prefetch_slot(&self, h: u64) {
        let [first, next] = self.slots_asked(h);
        prefetch_index::prefetch_index(&self.slots, first);
        prefetch_index::prefetch_index(&self.slots, next);
    }

    /// The slots whose lines [`ConnTable::prefetch_slot`] asks for: a key's
    /// first slot and the one [`LINE_AHEAD`] further.
    #[inline(always)]
    fn slots_asked(&self, h: u64) -> [usize; 2] {
        let i = h as usize & self.mask;
        [i, (i + LINE_AHEAD) & self.mask]
    }

    /// Prefetch, step 2 (some time after step 1 for the same hash): ask for
    /// the slab entry [`ConnTable::probe_ahead`] finds for `h` and `side`:
    /// both of its cache lines, as a 36-byte entry straddles two lines half
    /// of the time and a 72-byte one always (the line of its first field,
    /// `client`, and of its last, `state`: see `Conn`'s layout; test `sizes`
    /// checks it).
    #[inline]
    pub fn prefetch_entry(&self, h: u64, side: u8) {
        if let Some(c) = self
            .probe_ahead(h, side)
            .and_then(|idx| self.slab.get(idx as usize))
        {
            prefetch_index::prefetch_index(std::slice::from_ref(&c.client), 0);
            prefetch_index::prefetch_index(std::slice::from_ref(&c.state), 0);
        }
    }

    /// The entry a lookup of hash `h` on `side` will most likely compare its
    /// key with: the probe run walked as `find` walks it, at most
    /// [`PROBE_AHEAD`] slots, to the first slot whose tag and side match
    /// (a quarter of the keys sit past their first slot: see `PROBE_AHEAD`).
    /// A guess where tags collide; `find` still compares the keys.
    #[inline]
    fn probe_ahead(&self, h: u64, side: u8) -> Option<u32> {
        let (want, meta) = self.tag_of(h, side);
        let mut i = h as usize & self.mask;
        for _ in 0..PROBE_AHEAD {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if s & meta == want {
                return Some((s >> 1) & self.idx_mask);
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    #[inline]
    pub fn get(&self, idx: u32) -> &Conn<A> {
        &self.slab[idx as usize]
    }

    /// Put slab entry `idx`'s key of `side` (hashed to `h`) into the index.
    fn place(&mut self, h: u64, idx: u32, side: u32) {
        let v = self.slot_value(h, idx, side);
        let mut i = h as usize & self.mask;
        while self.slots[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = v;
    }

    /// Where in the index slab entry `idx`'s key of `side` (hashed to `h`)
    /// sits; it must be there.
    fn slot_of(&self, h: u64, idx: u32, side: u32) -> usize {
        let v = self.slot_value(h, idx, side);
        let mut i = h as usize & self.mask;
        while self.slots[i] != v {
            i = (i + 1) & self.mask;
        }
        i
    }

    /// Take slab entry `idx`'s key of `side` out of the index. The entry must still
    /// hold the connection (its keys rehash the slots that move).
    fn unplace(&mut self, key: &FlowKey<A>, idx: u32, side: u32) {
        let h = self.hash(key);
        let mut i = self.slot_of(h, idx, side);
        // Deletion by backward shift (Knuth, TAOCP vol. 3, 6.4 Algorithm R): walk
        // the run after the hole; a slot moves into the hole unless its home lies
        // cyclically in (hole, slot], where the probe from home would not pass it.
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let s = self.slots[j];
            if s == EMPTY {
                break;
            }
            let k = self.home(s);
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.slots[i] = s;
                i = j;
            }
        }
        self.slots[i] = EMPTY;
    }

    /// Add a connection seen at second `now`.
    pub fn insert(&mut self, mut conn: Conn<A>, now: u32) -> Result<u32, AddError> {
        if self.len >= self.max {
            return Err(AddError::Full);
        }
        let (ik, ok) = (conn.in_key(), conn.out_key());
        let (ih, oh) = (self.hash(&ik), self.hash(&ok));
        if self.find(&ik, ih).is_some() || self.find(&ok, oh).is_some() {
            return Err(AddError::Clash);
        }
        conn.seen = now;
        conn.prev = NIL;
        conn.next = NIL;
        let state = conn.state;
        let idx = if self.free != NIL {
            let i = self.free;
            self.free = self.slab[i as usize].next();
            self.slab[i as usize] = conn;
            self.links[i as usize] = 0;
            i
        } else {
            // Never reallocates: entries are live or free, and none is free here.
            debug_assert!(self.slab.len() < self.slab.capacity());
            self.slab.push(conn);
            self.links.push(0);
            (self.slab.len() - 1) as u32
        };
        self.place(ih, idx, 0);
        self.place(oh, idx, 1);
        self.len += 1;
        self.link_tail(idx, state);
        self.counts[state as usize] += 1;
        Ok(idx)
    }

    /// Record that connection `idx` was seen at `now` in state `state` (possibly
    /// new). In the same state within [`slack`] seconds of `seen` this changes
    /// nothing (see the module docs).
    #[inline(always)]
    pub fn touch(&mut self, idx: u32, state: State, now: u32, timeouts: &Timeouts) {
        // Most packets of a flow: the same state, the same second. Two
        // compares in line; the rest out of line.
        let c = &self.slab[idx as usize];
        if c.state == state && c.seen == now {
            return;
        }
        self.touch_moved(idx, state, now, timeouts);
    }

    /// [`ConnTable::touch`] past its first test: another second or another
    /// state.
    #[inline(never)]
    fn touch_moved(&mut self, idx: u32, state: State, now: u32, timeouts: &Timeouts) {
        let c = &self.slab[idx as usize];
        let old = c.state;
        if old == state {
            // The second it was linked, and how long ago that is.
            let linked = c.seen.wrapping_sub(c.lag());
            // Wrapping: a kept connection's `linked` is before second 0
            // in a worker's first seconds (`later.rs`), and must still
            // lag more than any slack.
            let lag = now.wrapping_sub(linked);
            if lag <= slack(timeouts.secs(state)) {
                let c = &mut self.slab[idx as usize];
                c.seen = now;
                c.set_lag(lag);
                return;
            }
        }
        self.unlink(idx, old);
        let c = &mut self.slab[idx as usize];
        c.state = state;
        c.seen = now;
        self.link_tail(idx, state);
        if old != state {
            self.counts[old as usize] -= 1;
            self.counts[state as usize] += 1;
        }
    }

    /// Remove connection `idx`.
    pub fn remove(&mut self, idx: u32) -> Gone {
        let c = &self.slab[idx as usize];
        let (ik, ok, state, dest) = (c.in_key(), c.out_key(), c.state, c.dest());
        self.unplace(&ik, idx, 0);
        self.unplace(&ok, idx, 1);
        self.unlink(idx, state);
        self.counts[state as usize] -= 1;
        self.slab[idx as usize].next = self.free;
        self.slab[idx as usize].prev = FREE;
        self.free = idx;
        self.len -= 1;
        (dest, state)
    }

    /// Remove up to `budget` connections whose state's timeout has passed at `now`
    /// (since their last packet; at most [`slack`] seconds later), calling `gone`
    /// with each (as it was when it left).
    pub fn expire(
        &mut self,
        now: u32,
        timeouts: &Timeouts,
        budget: usize,
        gone: impl FnMut(&Conn<A>, u32),
    ) -> usize {
        self.expire_keeping(now, timeouts, budget, |_, _| false, gone)
            .0
    }

    /// The connection [`ConnTable::evict_one`] would remove at `now`: the stalest
    /// head of the evictable states' lists, or else the first UDP flow idle for at
    /// least [`UDP_EVICT_IDLE`] seconds of the first [`UDP_EVICT_LOOK`] of its
    /// list. O(number of states).
    pub fn eviction_candidate(&self, now: u32) -> Option<u32> {
        let mut best: Option<u32> = None;
        for s in State::ALL {
            if !s.is_evictable() {
                continue;
            }
            let head = self.lists[s as usize].head;
            if head == NIL {
                continue;
            }
            match best {
                Some(b) if self.slab[b as usize].seen <= self.slab[head as usize].seen => {}
                _ => best = Some(head),
            }
        }
        best.or_else(|| {
            let mut i = self.lists[State::Udp as usize].head;
            for _ in 0..UDP_EVICT_LOOK {
                if i == NIL {
                    break;
                }
                let c = &self.slab[i as usize];
                if now.saturating_sub(c.seen) >= UDP_EVICT_IDLE {
                    return Some(i);
                }
                i = c.next();
            }
            None
        })
    }

    /// Remove one transitory connection (see [`ConnTable::eviction_candidate`]) to
    /// make room at `now`, calling `gone` with it before it leaves. Returns whether
    /// one was removed.
    pub fn evict_one(&mut self, now: u32, gone: impl FnOnce(&Conn<A>, u32)) -> bool {
        let Some(idx) = self.eviction_candidate(now) else {
            return false;
        };
        gone(&self.slab[idx as usize], self.link(idx));
        self.remove(idx);
        true
    }

    fn link_tail(&mut self, idx: u32, state: State) {
        self.lists[state as usize].push_tail(&mut self.slab, idx);
    }

    fn unlink(&mut self, idx: u32, state: State) {
        let (prev, next) = {
            let c = &self.slab[idx as usize];
            (c.prev(), c.next())
        };
        // The list it heads or ends: its state's, or else the re-arms'
        // (`later.rs`; a compare of a list end, for a head or tail only).
        if prev == NIL {
            match &mut self.lists[state as usize] {
                l if l.head == idx => l.head = next,
                _ => self.later.head = next,
            }
        } else {
            self.slab[prev as usize].set_next(next);
        }
        if next == NIL {
            match &mut self.lists[state as usize] {
                l if l.tail == idx => l.tail = prev,
                _ => self.later.tail = prev,
            }
        } else {
            self.slab[next as usize].set_prev(prev);
        }
    }

    /// Look at slab entries `from..` (at most `n` of them), calling `f` with each
    /// live one; returns where to go on from, `None` past the last entry. Slow
    /// path: listings in bounded steps. An entry keeps its index while it lives,
    /// so a walk in steps meets once every connection that lives through it.
    pub fn walk(&self, from: u32, n: usize, mut f: impl FnMut(&Conn<A>)) -> Option<u32> {
        self.walk_indexed(from, n, |_, c| f(c))
    }

    /// [`ConnTable::walk`], telling `f` each entry's index too (the resend
    /// sweep of connection sync reports entries by index).
    pub fn walk_indexed(
        &self,
        from: u32,
        n: usize,
        mut f: impl FnMut(u32, &Conn<A>),
    ) -> Option<u32> {
        let from = from as usize;
        let end = from.saturating_add(n).min(self.slab.len());
        for (i, c) in self
            .slab
            .get(from..end)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if c.prev() != FREE {
                f((from + i) as u32, c);
            }
        }
        (end < self.slab.len()).then_some(end as u32)
    }

    /// Every live connection (slow path: listings).
    pub fn iter(&self) -> impl Iterator<Item = &Conn<A>> {
        let lists = self.lists.iter().chain(std::iter::once(&self.later));
        lists.flat_map(move |l| ListIter {
            table: self,
            at: l.head,
        })
    }
}

struct ListIter<'a, A> {
    table: &'a ConnTable<A>,
    at: u32,
}

impl<'a, A: Addr> Iterator for ListIter<'a, A> {
    type Item = &'a Conn<A>;
    fn next(&mut self) -> Option<&'a Conn<A>> {
        if self.at == NIL {
            return None;
        }
        let c = &self.table.slab[self.at as usize];
        self.at = c.next();
        Some(c)
    }
}

#[cfg(test)]
mod test {
    //! Each scenario is a function generic over the address family, run for
    //! both by the `v4` and `v6` modules at the end.
    use super::*;
    use crate::nat::addr::TestAddr;
    use crate::nat::rewrite::End;
    use crate::nat::state::Dir;
    use crate::wire::checksum::Delta;
    use std::net::Ipv6Addr;

    fn conn<A: TestAddr>(cport: u16) -> Conn<A> {
        Conn::new(
            6,
            (A::host(1), cport),
            (A::host(2), 80),
            (A::host(3), 8080),
            DestId(7),
        )
    }

    fn both_keys_find_the_connection<A: TestAddr>() {
        let mut t = ConnTable::<A>::with_capacity(4);
        let i = t.insert(conn(1000), 5).unwrap();
        let c = t.get(i).clone();
        assert_eq!(t.lookup(&c.in_key()), Some(i));
        assert_eq!(t.lookup(&c.out_key()), Some(i));
        assert_eq!(t.insert(conn(1000), 5), Err(AddError::Clash));
        assert_eq!(t.remove(i), (DestId(7), State::None));
        assert_eq!(t.lookup(&c.in_key()), None);
        assert!(t.is_empty());
    }

    /// A connection whose replies would look like another's (same client
    /// and real server, another VIP) is refused, not merged.
    fn a_shared_reply_key_clashes<A: TestAddr>() {
        let mut t = ConnTable::<A>::with_capacity(4);
        let i = t.insert(conn(1000), 5).unwrap();
        let mut other = conn::<A>(1000);
        other.vip = A::host(4);
        assert_ne!(other.in_key(), t.get(i).in_key());
        assert_eq!(other.out_key(), t.get(i).out_key());
        assert_eq!(t.insert(other, 5), Err(AddError::Clash));
        assert_eq!(t.len(), 1);
    }

    fn full_table_refuses<A: TestAddr>() {
        let mut t = ConnTable::<A>::with_capacity(2);
        t.insert(conn(1), 0).unwrap();
        t.insert(conn(2), 0).unwrap();
        assert_eq!(t.insert(conn(3), 0), Err(AddError::Full));
    }

    fn expiry_follows_state_timeouts_and_touches<A: TestAddr>() {
        let to = Timeouts::default();
        let mut t = ConnTable::<A>::with_capacity(8);
        let a = t.insert(conn(1), 0).unwrap();
        let b = t.insert(conn(2), 0).unwrap();
        let c = t.insert(conn(3), 0).unwrap();
        t.touch(a, State::Established, 1, &to);
        t.touch(b, State::SynRecv, 1, &to);
        t.touch(c, State::SynRecv, 30, &to);
        assert_eq!(t.counts()[State::SynRecv as usize], 2);
        let mut gone = vec![];
        // SYN_RECV lasts 60 s: b (seen at 1) goes at 61, c (seen at 30) stays.
        assert_eq!(
            t.expire(61, &to, 100, |c, _| gone.push((c.dest(), c.state))),
            1
        );
        assert_eq!(gone, [(DestId(7), State::SynRecv)]);
        assert_eq!(t.len(), 2);
        // Budget bounds the work per call.
        assert_eq!(t.expire(10_000, &to, 1, |_, _| {}), 1);
        assert_eq!(t.expire(10_000, &to, 100, |_, _| {}), 1);
        assert!(t.is_empty());
        assert_eq!(t.counts().iter().sum::<u32>(), 0);
    }

    /// A packet in the same state within the slack sets `seen` but moves
    /// nothing; the connection expires exactly its timeout after its last
    /// packet, and an expired one behind it waits at most the slack.
    fn same_state_packets_within_the_slack_never_expire_a_connection_early<A: TestAddr>() {
        let to = Timeouts::default();
        let est = to.secs(State::Established);
        let s = slack(est);
        assert!(s > 0 && s <= MAX_SLACK);
        let mut t = ConnTable::<A>::with_capacity(8);
        let a = t.insert(conn(1), 0).unwrap();
        let b = t.insert(conn(2), 0).unwrap();
        let c = t.insert(conn(3), 0).unwrap();
        for i in [a, b, c] {
            t.touch(i, State::Established, 10, &to);
        }
        // b: a packet within the slack (not moved, `seen` 10 + s) ...
        t.touch(b, State::Established, 10 + s, &to);
        assert_eq!((t.get(b).seen, t.get(b).lag()), (10 + s, s));
        // ... a: one past it (moved to the tail, `seen` 11 + s).
        t.touch(a, State::Established, 11 + s, &to);
        assert_eq!(t.get(a).seen, 11 + s);
        let order: Vec<u16> = t.iter().map(|c| c.cport).collect();
        assert_eq!(order, [2, 3, 1]);
        // At b's last packet + timeout - 1 nothing goes; b at the head holds
        // c (due at 10 + timeout) back until b goes: c is s late, b on time.
        let mut gone = vec![];
        assert_eq!(
            t.expire(10 + s + est - 1, &to, 100, |c, _| gone.push(c.cport)),
            0
        );
        assert_eq!(
            t.expire(10 + s + est, &to, 100, |c, _| gone.push(c.cport)),
            2
        );
        assert_eq!(gone, [2, 3]);
        assert_eq!(t.expire(11 + s + est - 1, &to, 100, |_, _| {}), 0);
        assert_eq!(t.expire(11 + s + est, &to, 100, |_, _| {}), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn a_kept_connection_is_due_again_60_s_on() {
        let mut t: ConnTable = ConnTable::with_capacity(8);
        let to = Timeouts::default();
        let est = to.secs(State::Established);
        let conn = |p| Conn::new(6, (1, p), (2, 80), (3, 80), DestId(0));
        for p in [1000, 1001] {
            let i = t.insert(conn(p), 10).expect("room");
            t.touch(i, State::Established, 10, &to);
        }
        let mut gone = Vec::new();
        let n = t.expire_keeping(
            10 + est,
            &to,
            100,
            |_, c| c.cport == 1000,
            |c, _| gone.push(c.cport),
        );
        assert_eq!((n, gone.as_slice()), ((1, 2), &[1001][..]));
        assert_eq!(t.len(), 1);
        // Due again 60 s on (IPVS's `expire_later`), kept while `keep`
        // holds it, and let go at the first 60 s mark after.
        let late = 10 + est + EXPIRE_LATER;
        let held = |t: &mut ConnTable, now| t.expire_keeping(now, &to, 100, |_, _| true, |_, _| {});
        assert_eq!(held(&mut t, late - 1), (0, 0));
        assert_eq!(held(&mut t, late), (0, 1), "looked at, kept");
        assert_eq!(t.expire(late + EXPIRE_LATER - 1, &to, 100, |_, _| {}), 0);
        assert_eq!(t.expire(late + EXPIRE_LATER, &to, 100, |_, _| {}), 1);
        assert!(t.is_empty());
        // A packet after it was kept gives it its state's whole timeout.
        let i = t.insert(conn(1000), 10).expect("room");
        t.touch(i, State::Established, 10, &to);
        assert_eq!(held(&mut t, 10 + est), (0, 1));
        t.touch(i, State::Established, 20 + est, &to);
        assert_eq!(t.expire(10 + est + EXPIRE_LATER, &to, 100, |_, _| {}), 0);
        assert_eq!(t.expire(20 + 2 * est - 1, &to, 100, |_, _| {}), 0);
        assert_eq!(t.expire(20 + 2 * est + slack(est), &to, 100, |_, _| {}), 1);
        // So does a packet in the very second it was kept (`touch`'s
        // same-second shortcut must not leave the re-arm fresh).
        let i = t.insert(conn(1000), 10).expect("room");
        t.touch(i, State::Established, 10, &to);
        assert_eq!(held(&mut t, 10 + est), (0, 1));
        t.touch(i, State::Established, 10 + est, &to);
        let n = t.expire(10 + est + EXPIRE_LATER, &to, 100, |_, _| {});
        assert_eq!(n, 0, "seen in the second it was kept");
    }

    /// Only an entry on the re-arms is `kept`: not one whose lag is the
    /// most a packet gives (ESTABLISHED's slack), and not once a packet
    /// took it back; `expires_in` counts the 60 s from its keeping.
    #[test]
    fn only_an_entry_on_the_re_arms_is_kept() {
        let mut t: ConnTable = ConnTable::with_capacity(8);
        let to = Timeouts::default();
        let est = to.secs(State::Established);
        let i = t.insert(Conn::new(6, (1, 1000), (2, 21), (3, 21), DestId(0)), 100);
        let i = i.expect("room");
        t.touch(i, State::Established, 100, &to);
        t.touch(i, State::Established, 100 + MAX_SLACK, &to);
        assert_eq!(t.get(i).lag(), MAX_SLACK);
        assert!(!t.get(i).kept());
        assert_eq!(t.get(i).expires_in(100 + MAX_SLACK, &to), est);
        let kept_at = 100 + MAX_SLACK + est;
        assert_eq!(
            t.expire_keeping(kept_at, &to, 16, |_, _| true, |_, _| {}),
            (0, 1)
        );
        assert!(t.get(i).kept());
        assert_eq!(t.get(i).expires_in(kept_at + 20, &to), EXPIRE_LATER - 20);
        t.touch(i, State::Established, kept_at + 20, &to);
        assert!(!t.get(i).kept());
        assert_eq!(t.get(i).expires_in(kept_at + 20, &to), est);
    }

    /// A connection kept in a worker's first seconds (its clock starts at
    /// 0) goes back to its state's list with a packet all the same: marked
    /// as linked before second 0, it lags more than the slack.
    #[test]
    fn a_connection_kept_in_the_first_seconds_goes_back_with_a_packet() {
        let mut t: ConnTable = ConnTable::with_capacity(8);
        let to = Timeouts::default();
        let close = to.secs(State::Close);
        let i = t.insert(Conn::new(6, (1, 1000), (2, 21), (3, 21), DestId(0)), 0);
        let i = i.expect("room");
        t.touch(i, State::Close, 0, &to);
        assert_eq!(
            t.expire_keeping(close, &to, 16, |_, _| true, |_, _| {}),
            (0, 1)
        );
        t.touch(i, State::Close, close + 1, &to);
        assert_eq!(t.expire(2 * close, &to, 16, |_, _| {}), 0);
        assert_eq!(
            t.expire(2 * close + 1, &to, 16, |_, _| {}),
            1,
            "CLOSE's timeout"
        );
    }

    /// Under a 1 s timeout (`--set 1 …`) a kept connection is looked at
    /// once, then not again until 60 s on, not again and again until the
    /// budget is gone.
    #[test]
    fn a_kept_connection_under_a_1_s_timeout_is_looked_at_once() {
        let mut t: ConnTable = ConnTable::with_capacity(8);
        let mut to = Timeouts::default();
        to.set(1, 1, 1);
        let i = t.insert(Conn::new(6, (1, 1000), (2, 21), (3, 21), DestId(0)), 10);
        t.touch(i.expect("room"), State::Established, 10, &to);
        assert_eq!(
            t.expire_keeping(11, &to, 256, |_, _| true, |_, _| {}),
            (0, 1)
        );
        for now in 12..11 + EXPIRE_LATER {
            let r = t.expire_keeping(now, &to, 256, |_, _| true, |_, _| {});
            assert_eq!(r, (0, 0), "at {now}");
        }
        let r = t.expire_keeping(11 + EXPIRE_LATER, &to, 256, |_, _| true, |_, _| {});
        assert_eq!(r, (0, 1));
    }

    /// A kept connection is never evicted, whatever its state (CLOSE here,
    /// the stalest entry): it is on the re-arms, not its state's list, as
    /// IPVS's `ip_vs_random_dropentry` (`ip_vs_conn.c`) passes over a
    /// connection whose `n_control` is not 0. A packet takes it back to its
    /// state's list, evictable again.
    #[test]
    fn a_kept_connection_is_never_evicted() {
        let mut t: ConnTable = ConnTable::with_capacity(8);
        let to = Timeouts::default();
        let now = 10 + to.secs(State::Close);
        let add = |t: &mut ConnTable, p, at| {
            let i = t.insert(Conn::new(6, (1, p), (2, 21), (3, 21), DestId(0)), at);
            let i = i.expect("room");
            t.touch(i, State::Close, at, &to);
            i
        };
        let kept = add(&mut t, 1000, 10);
        let held = t.expire_keeping(now, &to, 100, |_, _| true, |_, _| {});
        assert_eq!(held, (0, 1));
        assert!(t.get(kept).kept());
        assert_eq!(t.eviction_candidate(now), None, "the kept one alone");
        let other = add(&mut t, 1001, now);
        assert_eq!(t.eviction_candidate(now), Some(other));
        assert!(t.evict_one(now, |c, _| assert_eq!(c.cport, 1001)));
        assert!(!t.evict_one(now, |_, _| panic!("a kept connection evicted")));
        t.touch(kept, State::Close, now + 1, &to);
        assert!(!t.get(kept).kept());
        assert_eq!(t.eviction_candidate(now + 1), Some(kept));
    }

    /// As the kernel's (`expire_later` sets `cp->timeout` to 60 s, whatever
    /// the state's), a kept connection in a state whose timeout is under
    /// 60 s (CLOSE's 10 s) is looked at again 60 s on, not at that timeout,
    /// and goes at the first 60 s mark after `keep` lets it go; it stays
    /// counted and listed under its state, and a packet takes it back to
    /// its state's list, out of the re-arms wherever it is among them.
    #[test]
    fn a_kept_connection_in_close_is_due_again_60_s_on_not_10() {
        let mut t: ConnTable = ConnTable::with_capacity(8);
        let to = Timeouts::default();
        let close = to.secs(State::Close);
        assert!(close < EXPIRE_LATER);
        let add = |t: &mut ConnTable, p, at| {
            let i = t.insert(Conn::new(6, (1, p), (2, 21), (3, 21), DestId(0)), at);
            let i = i.expect("room");
            t.touch(i, State::Close, at, &to);
            i
        };
        let held = |t: &mut ConnTable, now| t.expire_keeping(now, &to, 100, |_, _| true, |_, _| {});
        add(&mut t, 1000, 10);
        assert_eq!(held(&mut t, 10 + close), (0, 1), "kept");
        for now in 11 + close..10 + close + EXPIRE_LATER {
            assert_eq!(held(&mut t, now), (0, 0), "looked at again at {now}");
        }
        let mark = 10 + close + EXPIRE_LATER;
        assert_eq!(held(&mut t, mark), (0, 1), "kept again");
        assert_eq!(t.counts()[State::Close as usize], 1);
        assert_eq!(t.iter().count(), 1, "listed");
        // Let go: it goes at its next mark, not 10 s on.
        assert_eq!(t.expire(mark + EXPIRE_LATER - 1, &to, 100, |_, _| {}), 0);
        assert_eq!(t.expire(mark + EXPIRE_LATER, &to, 100, |_, _| {}), 1);
        assert!(t.is_empty() && t.iter().next().is_none());
        // Three kept a second apart; packets on the middle one, then on
        // the last and the first, take each back to CLOSE's list.
        let now = 1000;
        let (b, c, e) = (
            add(&mut t, 1001, now),
            add(&mut t, 1002, now + 1),
            add(&mut t, 1003, now + 2),
        );
        for k in 0..3 {
            assert_eq!(held(&mut t, now + close + k), (0, 1));
        }
        let back = now + close + 5;
        t.touch(c, State::Close, back, &to);
        assert_eq!(t.iter().count(), 3);
        t.touch(e, State::Close, back, &to);
        t.touch(b, State::Close, back, &to);
        assert_eq!(t.iter().count(), 3);
        assert_eq!(t.counts()[State::Close as usize], 3);
        // All three go from CLOSE's list at their state's timeout.
        let mut gone = Vec::new();
        let n = t.expire(back + close, &to, 100, |c, _| gone.push(c.cport));
        assert_eq!((n, gone.len()), (3, 3), "{gone:?}");
        assert!(t.is_empty() && t.iter().next().is_none());
        // Nothing is left on the re-arms: a new connection kept later is
        // due at its own mark.
        let f = add(&mut t, 1004, 2000);
        assert_eq!(held(&mut t, 2000 + close), (0, 1));
        assert_eq!(held(&mut t, 2000 + close + EXPIRE_LATER - 1), (0, 0));
        assert_eq!(held(&mut t, 2000 + close + EXPIRE_LATER), (0, 1));
        t.remove(f);
        assert!(t.is_empty() && t.iter().next().is_none());
    }

    /// Re-armed connections take at most half of an expiry's budget, so
    /// that many kept ones do not hold up the connections that idled out.
    #[test]
    fn re_arms_take_at_most_half_the_budget() {
        let mut t: ConnTable = ConnTable::with_capacity(8);
        let to = Timeouts::default();
        let est = to.secs(State::Established);
        let conn = |p| Conn::new(6, (1, p), (2, 80), (3, 80), DestId(0));
        let add = |t: &mut ConnTable, p, state, at| {
            let i = t.insert(conn(p), at).expect("room");
            t.touch(i, state, at, &to);
        };
        for p in 1000..1004 {
            add(&mut t, p, State::Established, 10);
        }
        let kept = |_, c: &Conn| c.cport < 1004;
        assert_eq!(
            t.expire_keeping(10 + est, &to, 100, kept, |_, _| {}),
            (0, 4)
        );
        // Two more idle out when the four kept ones come due again.
        let now = 10 + est + EXPIRE_LATER;
        for p in [1004, 1005] {
            add(&mut t, p, State::TimeWait, now - to.secs(State::TimeWait));
        }
        let mut gone = Vec::new();
        let n = t.expire_keeping(now, &to, 4, kept, |c, _| gone.push(c.cport));
        assert_eq!((n, gone.as_slice()), ((2, 4), &[1004, 1005][..]));
        // And what the lists leave: the budget is used up while re-arms
        // are due (the worker then goes on in its next pass).
        let now = now + EXPIRE_LATER;
        add(
            &mut t,
            1006,
            State::TimeWait,
            now - to.secs(State::TimeWait),
        );
        let n = t.expire_keeping(now, &to, 4, kept, |c, _| gone.push(c.cport));
        assert_eq!(
            (n, gone.len()),
            ((1, 4), 3),
            "two re-arms, one gone, one more re-arm"
        );
        assert_eq!(t.expire_keeping(now, &to, 4, kept, |_, _| {}), (0, 1));
    }

    fn eviction_takes_the_stalest_transitory_entry_and_spares_live_ones<A: TestAddr>() {
        let to = Timeouts::default();
        let mut t = ConnTable::<A>::with_capacity(8);
        let est = t.insert(conn(1), 0).unwrap();
        t.touch(est, State::Established, 0, &to);
        // Nothing transitory: nothing to evict.
        assert_eq!(t.eviction_candidate(1000), None);
        let a = t.insert(conn(2), 5).unwrap();
        t.touch(a, State::SynRecv, 5, &to);
        let b = t.insert(conn(3), 3).unwrap();
        t.touch(b, State::TimeWait, 3, &to);
        let c = t.insert(conn(4), 4).unwrap();
        t.touch(c, State::SynRecv, 7, &to);
        // The stalest head over all transitory lists: b (TIME_WAIT, seen at 3).
        assert_eq!(t.eviction_candidate(8), Some(b));
        let mut gone = vec![];
        assert!(t.evict_one(8, |c, _| gone.push(c.cport)));
        assert!(t.evict_one(8, |c, _| gone.push(c.cport)));
        assert!(t.evict_one(8, |c, _| gone.push(c.cport)));
        assert_eq!(gone, [3, 2, 4]);
        assert!(!t.evict_one(8, |_, _| panic!("established evicted")));
        assert_eq!(t.len(), 1);
        assert_eq!(t.lookup(&t.get(est).in_key()), Some(est));
        // UDP only once idle for UDP_EVICT_IDLE seconds.
        let u = t
            .insert(
                Conn::new(
                    17,
                    (A::host(9), 53),
                    (A::host(2), 53),
                    (A::host(3), 53),
                    DestId(1),
                ),
                100,
            )
            .unwrap();
        assert_eq!(t.eviction_candidate(100 + UDP_EVICT_IDLE - 1), None);
        assert_eq!(t.eviction_candidate(100 + UDP_EVICT_IDLE), Some(u));
        assert_eq!(t.counts().iter().sum::<u32>(), 2);
    }

    /// A UDP head touched within its slack keeps its place, its `seen` up to
    /// `MAX_SLACK` s past the flow behind it: that flow, idle for
    /// `UDP_EVICT_IDLE` s, is evicted all the same. Before, only the head was
    /// looked at, and the new connection was refused (`drop_table_full`).
    fn an_idle_udp_flow_behind_a_touched_head_is_evicted<A: TestAddr>() {
        let to = Timeouts::default();
        let mut t = ConnTable::<A>::with_capacity(2);
        let udp = |p| {
            Conn::new(
                17,
                (A::host(9), p),
                (A::host(2), 53),
                (A::host(3), 53),
                DestId(1),
            )
        };
        let a = t.insert(udp(1), 0).unwrap();
        t.touch(a, State::Udp, 14, &to);
        let b = t.insert(udp(2), 1).unwrap();
        assert_eq!(t.eviction_candidate(40), Some(b));
        assert!(t.evict_one(40, |c, _| assert_eq!(c.cport, 2)));
        assert_eq!(t.eviction_candidate(43), None, "a, idle 29 s");
        assert_eq!(t.eviction_candidate(44), Some(a));
    }

    fn iter_visits_every_connection_once<A: TestAddr>() {
        let to = Timeouts::default();
        let mut t = ConnTable::<A>::with_capacity(8);
        for p in 0..5 {
            let i = t.insert(conn(p), 0).unwrap();
            if p % 2 == 0 {
                t.touch(i, State::Established, 1, &to);
            }
        }
        let mut ports: Vec<u16> = t.iter().map(|c| c.cport).collect();
        ports.sort_unstable();
        assert_eq!(ports, [0, 1, 2, 3, 4]);
        let mut walked = vec![];
        assert_eq!(t.walk(0, 3, |c| walked.push(c.cport)), Some(3));
        assert_eq!(t.walk(3, 3, |c| walked.push(c.cport)), None);
        assert_eq!(walked, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn computed_rewrites_match_the_precomputed_deltas() {
        use std::net::Ipv4Addr;
        let (vip, rip) = (0xc612_006e, 0xc613_0002);
        let c = Conn::new(
            6,
            (0xc612_000a, 40000),
            (vip, 80),
            (rip, 8080),
            DestId(65535),
        );
        assert_eq!(c.dest(), DestId(65535));
        let (v, r) = (Ipv4Addr::from(vip), Ipv4Addr::from(rip));
        let rw = c.rewrite(Dir::Input);
        assert_eq!((rw.end, rw.addr, rw.port), (End::Dst, rip, 8080));
        assert_eq!(rw.addr_delta, Delta::new().add_addr(v, r));
        assert_eq!(rw.l4_delta, Delta::new().add_addr(v, r).add16(80, 8080));
        let rw = c.rewrite(Dir::Output);
        assert_eq!((rw.end, rw.addr, rw.port), (End::Src, vip, 80));
        assert_eq!(rw.addr_delta, Delta::new().add_addr(r, v));
        assert_eq!(rw.l4_delta, Delta::new().add_addr(r, v).add16(8080, 80));
    }

    #[test]
    fn sizes() {
        // 36 bytes of entry plus two index slots at a load of at most 3/4.
        assert_eq!(size_of::<Conn>(), 36);
        assert_eq!(size_of::<FlowKey>(), 16);
        // IPv6: the addresses are 12 bytes wider each, nothing else grows.
        assert_eq!(size_of::<Conn<Ipv6Addr>>(), 72);
        assert_eq!(size_of::<FlowKey<Ipv6Addr>>(), 40);
        // `prefetch_entry` asks for the first and the last byte of an entry.
        assert_eq!(std::mem::offset_of!(Conn, client), 0);
        assert_eq!(std::mem::offset_of!(Conn, state), size_of::<Conn>() - 1);
        assert_eq!(std::mem::offset_of!(Conn<Ipv6Addr>, client), 0);
        assert_eq!(
            std::mem::offset_of!(Conn<Ipv6Addr>, state),
            size_of::<Conn<Ipv6Addr>>() - 1
        );
        let t = ConnTable::<u32>::with_capacity(1 << 20);
        assert_eq!(t.slots.len(), 1 << 22);
        assert_eq!(ConnTable::<u32>::with_capacity(0).slots.len(), 8);
        assert_eq!(ConnTable::<u32>::with_capacity(3).slots.len(), 16);
        // The index does not depend on the family.
        assert_eq!(ConnTable::<Ipv6Addr>::with_capacity(3).slots.len(), 16);
    }

    /// The index against a model: random inserts and removes in small tables (long
    /// probe runs, wrap-around at the end of the slot array, backward shifts).
    fn index_agrees_with_a_model<A: TestAddr>() {
        use proptest::prelude::*;
        use std::collections::HashMap;
        let ops = proptest::collection::vec((any::<bool>(), 0u16..24, 0u32..3), 1..400);
        let udp = |host: u32, port: u16| {
            Conn::new(
                17,
                (A::host(host), port),
                (A::host(9), 53),
                (A::host(5), 5353 + port),
                DestId(1),
            )
        };
        proptest!(|(max in 1usize..20, ops in ops)| {
            let mut t = ConnTable::<A>::with_capacity(max);
            let mut model: HashMap<(u16, u32), u32> = HashMap::new();
            for (add, port, host) in ops {
                let known = model.get(&(port, host)).copied();
                if add {
                    match t.insert(udp(host, port), 0) {
                        Ok(i) => {
                            prop_assert!(known.is_none());
                            model.insert((port, host), i);
                        }
                        Err(AddError::Clash) => prop_assert!(known.is_some()),
                        Err(AddError::Full) => prop_assert_eq!(model.len(), max),
                    }
                } else if let Some(i) = known {
                    t.remove(i);
                    model.remove(&(port, host));
                }
                prop_assert_eq!(t.len(), model.len());
                prop_assert_eq!(t.slots.iter().filter(|s| **s != EMPTY).count(), 2 * model.len());
                for port in 0..24 {
                    for host in 0..3 {
                        let c = udp(host, port);
                        let want = model.get(&(port, host)).copied();
                        prop_assert_eq!(t.lookup(&c.in_key()), want);
                        prop_assert_eq!(t.lookup(&c.out_key()), want);
                    }
                }
            }
        });
    }

    macro_rules! for_both_families {
        ($($name:ident),* $(,)?) => {
            mod v4 {
                $(#[test] fn $name() { super::$name::<u32>() })*
            }
            mod v6 {
                $(#[test] fn $name() { super::$name::<std::net::Ipv6Addr>() })*
            }
        };
    }

    /// The look-ahead asks for the entry the lookup will compare: walking the
    /// probe run, it finds nearly every key of a table at its highest load
    /// (3/4), where only about 63 % sit in their first slot.
    fn probe_ahead_names_the_entry_the_lookup_finds<A: TestAddr>() {
        // 3071 connections: 6142 keys in 8192 slots (one more and the index
        // doubles), over 16 tables of different keys and seeds. (With
        // foldhash's `fast` hasher some seeds clustered these sequential
        // ports: 56-88 % found in one run in twenty; see the module doc.)
        let n = 3071;
        let (mut keys, mut at_home, mut named) = (0, 0, 0);
        for k in 0..16u16 {
            let mut t = ConnTable::<A>::with_capacity(n);
            for p in 0..n as u16 {
                t.insert(
                    conn(1000u16.wrapping_add(k.wrapping_mul(4000)).wrapping_add(p)),
                    0,
                )
                .unwrap();
            }
            assert_eq!(t.slots.len(), 8192);
            for idx in 0..n as u32 {
                let c = t.get(idx).clone();
                for (side, key) in [(0u8, c.in_key()), (1, c.out_key())] {
                    let h = t.hash_key(&key);
                    assert_eq!(t.lookup_hashed(&key, h), Some(idx));
                    keys += 1;
                    let home = t.slots[h as usize & t.mask];
                    at_home += usize::from(home != EMPTY && (home >> 1) & t.idx_mask == idx);
                    named += usize::from(t.probe_ahead(h, side) == Some(idx));
                }
            }
        }
        let (home, found) = (at_home as f64 / keys as f64, named as f64 / keys as f64);
        assert!(
            home < 0.8,
            "{home}: the table is not loaded enough to show it"
        );
        assert!(
            found > 0.95,
            "probe_ahead named {found} of the keys' entries"
        );
    }

    /// The lines `prefetch_slot` asks for hold the whole probe run of
    /// nearly every key at the load of a table of a million connections
    /// (2M keys in 4M slots), where the first slot's line alone misses the
    /// end of the run for a few percent of the keys (whose walk in
    /// `probe_ahead` would wait for DRAM). Runs cluster, so one table's
    /// figures swing widely: summed over 16 tables of different keys.
    fn prefetched_lines_hold_the_probe_runs<A: TestAddr>() {
        let n = 1966;
        let (mut keys, mut first, mut both) = (0, 0, 0);
        for k in 0..16 {
            let mut t = ConnTable::<A>::with_capacity(n);
            for p in 0..n {
                t.insert(conn(1000 + 3000 * k + p as u16), 0).unwrap();
            }
            assert_eq!(t.slots.len(), 8192, "half load, as with 1M connections");
            let line = |i: usize| (t.slots.as_ptr() as usize + i * size_of::<u32>()) / 64;
            for idx in 0..n as u32 {
                let c = t.get(idx).clone();
                for (side, key) in [(0u32, c.in_key()), (1, c.out_key())] {
                    let h = t.hash_key(&key);
                    let (home, j) = (h as usize & t.mask, t.slot_of(h, idx, side));
                    keys += 1;
                    first += usize::from(line(j) == line(home));
                    both += usize::from(t.slots_asked(h).iter().any(|&i| line(i) == line(j)));
                }
            }
        }
        let (first, both) = (first as f64 / keys as f64, both as f64 / keys as f64);
        assert!(first < 0.99, "{first}: runs too short to show it");
        // The second line holds runs the first misses: typically nine in
        // ten of them; the rest, runs past it, are the long clusters of
        // linear probing, whose share swings from table to table.
        assert!(
            both > first,
            "the two lines hold {both} of the runs, the first alone {first}"
        );
    }

    for_both_families!(
        prefetched_lines_hold_the_probe_runs,
        probe_ahead_names_the_entry_the_lookup_finds,
        both_keys_find_the_connection,
        a_shared_reply_key_clashes,
        full_table_refuses,
        expiry_follows_state_timeouts_and_touches,
        same_state_packets_within_the_slack_never_expire_a_connection_early,
        eviction_takes_the_stalest_transitory_entry_and_spares_live_ones,
        an_idle_udp_flow_behind_a_touched_head_is_evicted,
        iter_visits_every_connection_once,
        index_agrees_with_a_model,
    );
}
