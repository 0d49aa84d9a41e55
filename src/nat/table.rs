//! A worker's connection table.
//!
//! Connections live in a slab (`Vec<Conn>` with a free list) allocated once at
//! start; a `hashbrown` map from each direction's [`FlowKey`] to the slab index finds
//! them. Every connection sits on the expiry list of its state: a doubly linked list
//! through the slab whose head is the stalest entry and whose tail the freshest
//! (times are whole seconds, and a connection moves to the tail at most once a
//! second), so expiry pops from the heads and never scans the table.

use super::state::{STATES, State, Timeouts};
use crate::config::DestId;
use crate::wire::checksum::Delta;
use hashbrown::HashMap;
use std::net::Ipv4Addr;

/// One direction's 5-tuple plus the NIC it arrives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct FlowKey {
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    /// 0: arrives on the external NIC (client → VIP); 1: on the internal NIC.
    pub side: u8,
    pad: u16,
}

const _: () = assert!(size_of::<FlowKey>() == 16);

impl FlowKey {
    #[inline]
    pub fn new(side: u8, proto: u8, src: u32, sport: u16, dst: u32, dport: u16) -> Self {
        Self {
            src,
            dst,
            sport,
            dport,
            proto,
            side,
            pad: 0,
        }
    }
}

const NIL: u32 = u32::MAX;

/// A tracked connection: the addresses of both legs and the precomputed checksum
/// updates for each direction.
#[derive(Clone, Debug)]
pub struct Conn {
    pub client: u32,
    pub cport: u16,
    pub vip: u32,
    pub vport: u16,
    pub rip: u32,
    pub rport: u16,
    pub proto: u8,
    pub state: State,
    pub dest: DestId,
    /// Input: address part (VIP → RIP), for the IP header and the pseudo-header.
    pub in_addr: Delta,
    /// Input: address and port (the whole L4 checksum update).
    pub in_l4: Delta,
    pub out_addr: Delta,
    pub out_l4: Delta,
    /// Last second the connection was seen (on the caller's clock).
    pub seen: u32,
    prev: u32,
    next: u32,
}

impl Conn {
    pub fn new(
        proto: u8,
        (client, cport): (u32, u16),
        (vip, vport): (u32, u16),
        (rip, rport): (u32, u16),
        dest: DestId,
    ) -> Self {
        let (v, r) = (Ipv4Addr::from(vip), Ipv4Addr::from(rip));
        let in_addr = Delta::new().add_addr(v, r);
        let out_addr = Delta::new().add_addr(r, v);
        Self {
            client,
            cport,
            vip,
            vport,
            rip,
            rport,
            proto,
            state: if proto == 17 { State::Udp } else { State::None },
            dest,
            in_addr,
            in_l4: in_addr.add16(vport, rport),
            out_addr,
            out_l4: out_addr.add16(rport, vport),
            seen: 0,
            prev: NIL,
            next: NIL,
        }
    }

    /// The key of packets from the client (external NIC).
    pub fn in_key(&self) -> FlowKey {
        FlowKey::new(0, self.proto, self.client, self.cport, self.vip, self.vport)
    }

    /// The key of packets from the real server (internal NIC).
    pub fn out_key(&self) -> FlowKey {
        FlowKey::new(1, self.proto, self.rip, self.rport, self.client, self.cport)
    }
}

#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
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

pub struct ConnTable {
    map: HashMap<FlowKey, u32>,
    slab: Vec<Conn>,
    free: Vec<u32>,
    lists: [List; STATES],
    /// Connections per state.
    counts: [u32; STATES],
    max: usize,
}

impl ConnTable {
    /// A table for at most `max` connections, allocated now.
    pub fn with_capacity(max: usize) -> Self {
        Self {
            map: HashMap::with_capacity(max * 2),
            slab: Vec::with_capacity(max),
            free: Vec::with_capacity(max),
            lists: [List {
                head: NIL,
                tail: NIL,
            }; STATES],
            counts: [0; STATES],
            max,
        }
    }

    pub fn len(&self) -> usize {
        self.slab.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections in each state, indexed by `State as usize`.
    pub fn counts(&self) -> &[u32; STATES] {
        &self.counts
    }

    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<u32> {
        self.map.get(key).copied()
    }

    #[inline]
    pub fn get(&self, idx: u32) -> &Conn {
        &self.slab[idx as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut Conn {
        &mut self.slab[idx as usize]
    }

    /// Add a connection seen at second `now`.
    pub fn insert(&mut self, mut conn: Conn, now: u32) -> Result<u32, AddError> {
        if self.len() >= self.max {
            return Err(AddError::Full);
        }
        let (ik, ok) = (conn.in_key(), conn.out_key());
        if self.map.contains_key(&ik) || self.map.contains_key(&ok) {
            return Err(AddError::Clash);
        }
        conn.seen = now;
        conn.prev = NIL;
        conn.next = NIL;
        let state = conn.state;
        let idx = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = conn;
                i
            }
            None => {
                self.slab.push(conn);
                (self.slab.len() - 1) as u32
            }
        };
        self.map.insert(ik, idx);
        self.map.insert(ok, idx);
        self.link_tail(idx, state);
        self.counts[state as usize] += 1;
        Ok(idx)
    }

    /// Record that connection `idx` was seen at `now` in state `state` (possibly new).
    #[inline]
    pub fn touch(&mut self, idx: u32, state: State, now: u32) {
        let c = &self.slab[idx as usize];
        let old = c.state;
        if old == state && c.seen == now {
            return;
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
        let (ik, ok, state, dest) = (c.in_key(), c.out_key(), c.state, c.dest);
        self.map.remove(&ik);
        self.map.remove(&ok);
        self.unlink(idx, state);
        self.counts[state as usize] -= 1;
        self.free.push(idx);
        (dest, state)
    }

    /// Remove up to `budget` connections whose state's timeout has passed at `now`,
    /// calling `gone` for each.
    pub fn expire(
        &mut self,
        now: u32,
        timeouts: &Timeouts,
        mut budget: usize,
        mut gone: impl FnMut(Gone),
    ) -> usize {
        let mut n = 0;
        for s in State::ALL {
            let limit = timeouts.secs(s);
            while budget > 0 {
                let head = self.lists[s as usize].head;
                if head == NIL || now.saturating_sub(self.slab[head as usize].seen) < limit {
                    break;
                }
                gone(self.remove(head));
                budget -= 1;
                n += 1;
            }
        }
        n
    }

    fn link_tail(&mut self, idx: u32, state: State) {
        let l = &mut self.lists[state as usize];
        let old_tail = l.tail;
        l.tail = idx;
        if old_tail == NIL {
            l.head = idx;
        } else {
            self.slab[old_tail as usize].next = idx;
        }
        let c = &mut self.slab[idx as usize];
        c.prev = old_tail;
        c.next = NIL;
    }

    fn unlink(&mut self, idx: u32, state: State) {
        let (prev, next) = {
            let c = &self.slab[idx as usize];
            (c.prev, c.next)
        };
        let l = &mut self.lists[state as usize];
        if prev == NIL {
            l.head = next;
        } else {
            self.slab[prev as usize].next = next;
        }
        if next == NIL {
            l.tail = prev;
        } else {
            self.slab[next as usize].prev = prev;
        }
    }

    /// Every live connection (slow path: listings).
    pub fn iter(&self) -> impl Iterator<Item = &Conn> {
        self.lists.iter().flat_map(move |l| ListIter {
            table: self,
            at: l.head,
        })
    }
}

struct ListIter<'a> {
    table: &'a ConnTable,
    at: u32,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a Conn;
    fn next(&mut self) -> Option<&'a Conn> {
        if self.at == NIL {
            return None;
        }
        let c = &self.table.slab[self.at as usize];
        self.at = c.next;
        Some(c)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn conn(cport: u16) -> Conn {
        Conn::new(6, (1, cport), (2, 80), (3, 8080), DestId(7))
    }

    #[test]
    fn both_keys_find_the_connection() {
        let mut t = ConnTable::with_capacity(4);
        let i = t.insert(conn(1000), 5).unwrap();
        let c = t.get(i).clone();
        assert_eq!(t.lookup(&c.in_key()), Some(i));
        assert_eq!(t.lookup(&c.out_key()), Some(i));
        assert_eq!(t.insert(conn(1000), 5), Err(AddError::Clash));
        assert_eq!(t.remove(i), (DestId(7), State::None));
        assert_eq!(t.lookup(&c.in_key()), None);
        assert!(t.is_empty());
    }

    #[test]
    fn full_table_refuses() {
        let mut t = ConnTable::with_capacity(2);
        t.insert(conn(1), 0).unwrap();
        t.insert(conn(2), 0).unwrap();
        assert_eq!(t.insert(conn(3), 0), Err(AddError::Full));
    }

    #[test]
    fn expiry_follows_state_timeouts_and_touches() {
        let to = Timeouts::default();
        let mut t = ConnTable::with_capacity(8);
        let a = t.insert(conn(1), 0).unwrap();
        let b = t.insert(conn(2), 0).unwrap();
        let c = t.insert(conn(3), 0).unwrap();
        t.touch(a, State::Established, 1);
        t.touch(b, State::SynRecv, 1);
        t.touch(c, State::SynRecv, 30);
        assert_eq!(t.counts()[State::SynRecv as usize], 2);
        let mut gone = vec![];
        // SYN_RECV lasts 60 s: b (seen at 1) goes at 61, c (seen at 30) stays.
        assert_eq!(t.expire(61, &to, 100, |g| gone.push(g)), 1);
        assert_eq!(gone, [(DestId(7), State::SynRecv)]);
        assert_eq!(t.len(), 2);
        // Budget bounds the work per call.
        assert_eq!(t.expire(10_000, &to, 1, |_| {}), 1);
        assert_eq!(t.expire(10_000, &to, 100, |_| {}), 1);
        assert!(t.is_empty());
        assert_eq!(t.counts().iter().sum::<u32>(), 0);
    }

    #[test]
    fn iter_visits_every_connection_once() {
        let mut t = ConnTable::with_capacity(8);
        for p in 0..5 {
            let i = t.insert(conn(p), 0).unwrap();
            if p % 2 == 0 {
                t.touch(i, State::Established, 1);
            }
        }
        let mut ports: Vec<u16> = t.iter().map(|c| c.cport).collect();
        ports.sort_unstable();
        assert_eq!(ports, [0, 1, 2, 3, 4]);
    }
}
