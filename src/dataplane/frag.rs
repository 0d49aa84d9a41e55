//! IPv4 fragments of TCP and UDP datagrams: each fragment forwarded as it
//! came, translated by its datagram's connection.
//!
//! IPVS sees whole datagrams: the kernel reassembles what arrives for a VIP
//! before `LOCAL_IN` (`ip_local_deliver` → `ip_defrag`), and `ip_vs_out_hook`
//! (`ip_vs_core.c`) reassembles the real servers' fragmented replies itself
//! (`ip_vs_gather_frags`); the packet it sends on is fragmented again on the
//! way out (`ip_do_fragment`, to at most the largest fragment received,
//! `frag_max_size`). A large UDP answer (DNS with EDNS, RADIUS, syslog) or a
//! client behind a link with a small MTU therefore works through IPVS.
//!
//! ringvs does what VPP's shallow virtual reassembly does (`ip4_sv_reass`)
//! rather than buffering the whole datagram: only the first fragment carries
//! the ports, so a table keyed by the datagram (source, destination,
//! protocol, IP id and the NIC it came from) remembers them, and every
//! fragment is forwarded on its own with its datagram's connection:
//!
//! * the first (offset 0) goes through the usual NAT path, which creates the
//!   connection if it is new; its TCP/UDP checksum, which covers the whole
//!   datagram, is updated by the connection's delta like any other (it cannot
//!   be verified here: IPVS does not verify it either);
//! * the others find the connection by the remembered ports and get only the
//!   IP half of the rewrite (`rewrite::nat_ip`), or go to a DR or TUN server
//!   unchanged; they never create a connection nor move its TCP state;
//! * a fragment that arrives before its datagram's first is held (up to
//!   [`HELD`] per worker, copied) and sent on when the first arrives; one
//!   held for [`FRAG_TIMEOUT_S`] (`net.ipv4.ipfrag_time`'s default), or
//!   pushed out for a newer one when all are taken, is dropped
//!   (`drop_frag_expired`).
//!
//! What goes out is what came in, fragment by fragment, as the kernel's
//! refragmenting to `frag_max_size` gives on the same path; a fragment over
//! the egress MTU is cut again (`Core::fragment` keeps its offset and MF).
//! Deliberate differences, documented in `docs/design.md`: per-server
//! packet counters count fragments (IPVS counts the datagram once), and the
//! fragments of a datagram that never completes are forwarded all the same
//! (the kernel would drop them after `ipfrag_time`; the real server's or
//! client's kernel does that instead). ICMP and other protocols' fragments
//! are still dropped (`drop_fragment`), as is a first fragment too short to
//! hold its whole TCP or UDP header (RFC 1858's tiny fragments).
//!
//! # Which worker
//!
//! A connection lives on the worker that owns its client key (address and
//! port), and only the first fragment carries the port. So every fragment
//! first goes to the datagram's *tracker*, a worker chosen by a hash of the
//! datagram's key ([`tracker`]); the tracker reads the client key off the
//! first fragment and sends each fragment on to the connection's owner
//! (handoffs marked [`FragHop::Owner`], which the owner handles itself).
//! One ring per worker pair is first in first out, so the owner sees a
//! datagram's first fragment before the rest. With one worker, or when the
//! tracker owns the connection, nothing is handed over.

use super::nat::Family;
use super::tx::{Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::config::Forward;
use crate::io::{FRAME_MAX, TxQueue};
use crate::nat::{Dir, FlowKey};
use crate::stats::Ctr;
use crate::wire::ipv4::{self, Ipv4Packet, protocol};
use crate::wire::{ethernet, tcp, udp};

/// How long a fragment's datagram is remembered, and a fragment held for its
/// first, in seconds: the kernel's `net.ipv4.ipfrag_time` default.
pub const FRAG_TIMEOUT_S: u32 = 30;
/// Datagrams remembered per worker: sets of [`WAYS`].
const SETS: usize = 256;
const WAYS: usize = 4;
/// Fragments held per worker while their datagram's first has not come.
pub const HELD: usize = 32;

/// Why a fragment was handed to another worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FragHop {
    /// Not a fragment's handoff (or not handed over).
    #[default]
    None,
    /// To the datagram's tracker.
    Tracker,
    /// To the connection's owner, from the tracker.
    Owner,
}

/// A datagram: its addresses, protocol and IP id, and the NIC it came from
/// (the two directions of a connection are two datagrams).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Key {
    src: u32,
    dst: u32,
    id: u16,
    proto: u8,
    nic: u8,
}

/// What the first fragment told about its datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Route {
    /// Nothing yet: the first fragment has not come.
    #[default]
    Unknown,
    /// To this worker: the connection's owner.
    Worker(u16),
    /// Handled here: its source and destination ports.
    Ports(u16, u16),
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    key: Key,
    live: bool,
    /// The second it was made (the worker's clock).
    born: u32,
    route: Route,
    /// Payload bytes of its fragments handled so far, and the datagram's
    /// (known from its last fragment; 0 until then).
    got: u32,
    total: u32,
}

/// A held fragment: its bytes are slot `i` of `Frags::buf`.
#[derive(Clone, Copy, Debug, Default)]
struct Held {
    key: Key,
    nic: Option<Nic>,
    len: u16,
    born: u32,
}

/// A worker's datagrams in flight and the fragments it holds; allocated once.
pub(super) struct Frags {
    /// Why the frame being handled was handed here, if it is a fragment
    /// (set around `handle` by `drain_handoffs`).
    pub(super) via: FragHop,
    entries: Vec<Entry>,
    held: Vec<Held>,
    buf: Vec<u8>,
    /// A held fragment's bytes while it is handled.
    out: Vec<u8>,
}

impl Default for Frags {
    fn default() -> Self {
        Frags {
            via: FragHop::None,
            entries: vec![Entry::default(); SETS * WAYS],
            held: vec![Held::default(); HELD],
            buf: vec![0; HELD * FRAME_MAX],
            out: vec![0; FRAME_MAX],
        }
    }
}

/// Its payload's offset and length, and whether more fragments follow.
fn place(frame: &[u8]) -> (u32, u32, bool) {
    let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
    let len = usize::from(ip.total_len()).saturating_sub(ipv4::HEADER_LEN);
    (u32::from(ip.frag_offset()), len as u32, ip.more_frags())
}

fn key_of(nic: Nic, frame: &[u8]) -> Key {
    let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
    Key {
        src: ip.src_raw(),
        dst: ip.dst_raw(),
        id: ip.ident(),
        proto: ip.protocol(),
        nic: nic as u8,
    }
}

fn hash(k: &Key) -> u32 {
    let x = k.src.rotate_left(13)
        ^ k.dst
        ^ (u32::from(k.id) << 8 | u32::from(k.proto))
        ^ u32::from(k.nic);
    x.wrapping_mul(0x9e37_79b1) ^ (x >> 16)
}

/// The worker of `workers` that tracks datagram `k`: the same on every
/// worker, whichever one the fragment reached.
fn tracker(k: &Key, workers: usize) -> usize {
    ((u64::from(hash(k)) * workers as u64) >> 32) as usize
}

/// The ports and TCP flags of a first fragment, if it holds its whole
/// TCP or UDP header.
fn first_ports(proto: u8, l4: &[u8]) -> Option<(u16, u16, u8)> {
    let need = if proto == protocol::TCP {
        tcp::HEADER_LEN
    } else {
        udp::HEADER_LEN
    };
    if l4.len() < need {
        return None;
    }
    let flags = if proto == protocol::TCP { l4[13] } else { 0 };
    let port = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    Some((port(0), port(2), flags))
}

impl Frags {
    fn set(&mut self, k: &Key) -> &mut [Entry] {
        let s = (hash(k) as usize % SETS) * WAYS;
        &mut self.entries[s..s + WAYS]
    }

    fn find(&mut self, k: &Key, now: u32) -> Option<&mut Entry> {
        self.set(k)
            .iter_mut()
            .find(|e| e.live && e.key == *k && now.saturating_sub(e.born) < FRAG_TIMEOUT_S)
    }

    /// Start datagram `k` (its first fragment came): in its own way, a free
    /// or expired one, or the oldest of its set's.
    fn start(&mut self, k: Key, now: u32, route: Route) {
        let set = self.set(&k);
        let old = |e: &Entry| !e.live || now.saturating_sub(e.born) >= FRAG_TIMEOUT_S;
        let at = set
            .iter()
            .position(|e| e.live && e.key == k)
            .or_else(|| set.iter().position(old))
            .or_else(|| (0..WAYS).min_by_key(|&i| set[i].born))
            .unwrap_or_default();
        set[at] = Entry {
            key: k,
            live: true,
            born: now,
            route,
            got: 0,
            total: 0,
        };
    }

    /// Take the first held fragment of `k` into `out`; its NIC and length.
    fn take_held(&mut self, k: &Key) -> Option<(Nic, usize)> {
        let i = self
            .held
            .iter()
            .position(|h| h.nic.is_some() && h.key == *k)?;
        let h = std::mem::take(&mut self.held[i]);
        let len = usize::from(h.len);
        self.out[..len].copy_from_slice(&self.buf[i * FRAME_MAX..][..len]);
        h.nic.map(|nic| (nic, len))
    }

    /// Hold `frame`: in a free slot, else in one held too long or, when all
    /// are young, the oldest's. Returns how many held fragments it dropped
    /// (0 or 1).
    fn hold(&mut self, k: Key, nic: Nic, frame: &[u8], now: u32) -> u64 {
        let expired = |h: &Held| now.saturating_sub(h.born) >= FRAG_TIMEOUT_S;
        let (i, dropped) = match self.held.iter().position(|h| h.nic.is_none()) {
            Some(i) => (i, 0),
            None => {
                let i = self
                    .held
                    .iter()
                    .position(expired)
                    .or_else(|| (0..HELD).min_by_key(|&i| self.held[i].born))
                    .unwrap_or_default();
                (i, 1)
            }
        };
        self.held[i] = Held {
            key: k,
            nic: Some(nic),
            len: frame.len() as u16,
            born: now,
        };
        self.buf[i * FRAME_MAX..][..frame.len()].copy_from_slice(frame);
        dropped
    }

    /// Drop the held fragments older than [`FRAG_TIMEOUT_S`]; how many.
    fn expire(&mut self, now: u32) -> u64 {
        let mut n = 0;
        for h in &mut self.held {
            if h.nic.is_some() && now.saturating_sub(h.born) >= FRAG_TIMEOUT_S {
                *h = Held::default();
                n += 1;
            }
        }
        n
    }
}

impl Core {
    /// A TCP/UDP fragment (IPv4 header already checked: 20 bytes, its
    /// checksum, the TTL) received on `nic`, `frame` cut to the IP packet's
    /// length; `via`: why it was handed here, if it was.
    #[cold]
    pub(super) fn fragment4<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        via: FragHop,
        tx: &mut TxPair<T>,
    ) {
        self.ctr.inc(Ctr::RxFragments);
        let k = key_of(nic, frame);
        let (off, len, more) = place(frame);
        let l4 = &frame[ethernet::HEADER_LEN + ipv4::HEADER_LEN..];
        let first = match off {
            0 => match first_ports(k.proto, l4) {
                Some(p) => Some(p),
                None => return self.ctr.inc(Ctr::DropFragment),
            },
            _ => None,
        };
        if via == FragHop::None && self.workers > 1 {
            let t = tracker(&k, self.workers);
            if t != self.id {
                return self.hand_fragment(t, nic, frame, FragHop::Tracker);
            }
        }
        let now = self.clock.now_s;
        let route = if let Some((sport, dport, _)) = first {
            let client = match nic {
                Nic::Ext => (k.src, sport),
                Nic::Int => (k.dst, dport),
            };
            let owner = match via {
                // Sent here by the tracker: ours (the same function).
                FragHop::Owner => self.id,
                _ if self.workers > 1 => self.env.owner(client, self.workers),
                _ => self.id,
            };
            let route = if owner == self.id {
                Route::Ports(sport, dport)
            } else {
                Route::Worker(owner as u16)
            };
            self.frags.start(k, now, route);
            route
        } else {
            match self.frags.find(&k, now) {
                Some(e) => e.route,
                None if frame.len() > FRAME_MAX => return self.ctr.inc(Ctr::DropTooBig),
                None => {
                    let dropped = self.frags.hold(k, nic, frame, now);
                    self.ctr.add(Ctr::FragReleased, dropped);
                    self.ctr.add(Ctr::DropFragExpired, dropped);
                    return self.ctr.inc(Ctr::FragHeld);
                }
            }
        };
        self.frag_route(route, nic, frame, tx);
        self.frag_done(&k, now, (off, len, more));
        if off == 0 {
            self.release_held(&k, route, now, tx);
        }
    }

    /// Count a fragment of `k` handled; forget `k` once all of its bytes were.
    fn frag_done(&mut self, k: &Key, now: u32, (off, len, more): (u32, u32, bool)) {
        if let Some(e) = self.frags.find(k, now) {
            e.got = e.got.saturating_add(len);
            if !more {
                e.total = off + len;
            }
            if e.total != 0 && e.got >= e.total {
                e.live = false;
            }
        }
    }

    /// The fragments of `k` held for its first: on their way now. Any held
    /// too long are dropped first.
    fn release_held<T: TxQueue>(&mut self, k: &Key, route: Route, now: u32, tx: &mut TxPair<T>) {
        let expired = self.frags.expire(now);
        self.ctr.add(Ctr::FragReleased, expired);
        self.ctr.add(Ctr::DropFragExpired, expired);
        // Not the RX frame: nothing here may leave from its buffer.
        let zc = self.zc.out.take();
        while let Some((nic, len)) = self.frags.take_held(k) {
            self.ctr.inc(Ctr::FragReleased);
            let out = std::mem::take(&mut self.frags.out);
            let frame = &out[..len];
            self.frag_route(route, nic, frame, tx);
            self.frag_done(k, now, place(frame));
            self.frags.out = out;
        }
        self.zc.out = zc;
    }

    fn frag_route<T: TxQueue>(&mut self, route: Route, nic: Nic, frame: &[u8], tx: &mut TxPair<T>) {
        match route {
            Route::Worker(w) => self.hand_fragment(usize::from(w), nic, frame, FragHop::Owner),
            Route::Ports(sport, dport) => self.frag_nat(nic, frame, (sport, dport), tx),
            Route::Unknown => self.ctr.inc(Ctr::DropFragment),
        }
    }

    /// Pass a fragment to worker `to` (a copy: it may be held or passed on
    /// again there).
    fn hand_fragment(&mut self, to: usize, nic: Nic, frame: &[u8], hop: FragHop) {
        let sent = self.links.handoffs.send_fragment(to, nic, frame, hop);
        self.count_handoff(sent);
    }

    /// A fragment whose datagram's ports are known, on this worker, which
    /// owns its connection.
    fn frag_nat<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        (sport, dport): (u16, u16),
        tx: &mut TxPair<T>,
    ) {
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let (src, dst, proto) = (ip.src_raw(), ip.dst_raw(), ip.protocol());
        if ip.frag_offset() == 0 {
            let l4 = &frame[ethernet::HEADER_LEN + ipv4::HEADER_LEN..];
            let flags = first_ports(proto, l4).map_or(0, |p| p.2);
            let seg = super::classify::Segment {
                frame,
                proto,
                src,
                dst,
                sport,
                dport,
                flags,
                partial: false,
            };
            return match nic {
                Nic::Ext => self.nat_in(seg, tx),
                Nic::Int => self.nat_out_of(super::nat::Seg::from(seg), tx),
            };
        }
        let dir = match nic {
            Nic::Ext => Dir::Input,
            Nic::Int => Dir::Output,
        };
        let key = FlowKey::new(u8::from(dir == Dir::Output), proto, src, sport, dst, dport);
        let Some(idx) = self.table.lookup(&key) else {
            return self.ctr.inc(Ctr::DropNoConn);
        };
        let c = self.table.get(idx);
        let dest = c.dest();
        if !self.snap.cfg.dest_live(dest)
            && (dir == Dir::Input || self.env.sysctl.expire_nodest_conn)
        {
            return self.ctr.inc(Ctr::DropNoDestConn);
        }
        let bytes = (frame.len() - ethernet::HEADER_LEN) as u64;
        let fwd = self.snap.cfg.forward_of(dest);
        if dir == Dir::Input && fwd != Forward::Masq {
            let rip = self.direct_rip(c);
            let seg = super::classify::Segment {
                frame,
                proto,
                src,
                dst,
                sport,
                dport,
                flags: 0,
                partial: false,
            };
            if self.forward_direct(fwd, rip, seg, tx) {
                self.out.traffic.inbound(dest, bytes);
            }
            return;
        }
        let rw = c.rewrite(dir);
        let Some(hop) = <u32 as Family>::hop(&self.env, dir, c) else {
            return self.ctr.inc(Ctr::DropNoService);
        };
        let (out, done) = match dir {
            Dir::Input => (Nic::Int, Ctr::FwdIn),
            Dir::Output => (Nic::Ext, Ctr::FwdOut),
        };
        if self.forward_to((out, hop), frame, tx, done, Patch::NatIp(rw)) {
            match dir {
                Dir::Input => self.out.traffic.inbound(dest, bytes),
                Dir::Output => self.out.traffic.outbound(dest, bytes),
            }
        }
    }
}
