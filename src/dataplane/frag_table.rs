//! The table of [`frag.rs`](super::frag): per worker, the datagrams whose
//! fragments are in flight (the ports their first fragment told, or the
//! worker it went to) and the fragments held until their first comes, all
//! allocated once; and the keyed hash that picks a datagram's set and its
//! tracker worker.

use crate::Nic;
use crate::config::DestId;
use crate::io::FRAME_MAX;
use crate::wire::ipv4::{self, Ipv4Packet, protocol};
use crate::wire::ipv6::{FragmentHeader, Ipv6Packet, Upper};
use crate::wire::{ethernet, sctp, tcp, udp};
use std::net::IpAddr;

mod dist;
pub(super) use dist::{Mark, Peer};

/// How long an IPv4 fragment's datagram is remembered, and a fragment held
/// for its first, in seconds: the kernel's `net.ipv4.ipfrag_time` default.
pub const FRAG_TIMEOUT_S: u32 = 30;
/// The same for IPv6: `IPV6_FRAG_TIMEOUT`, the default of
/// `net.ipv6.ip6frag_time` and of `nf_conntrack_frag6_timeout`, the
/// reassembly IPVS's IPv6 packets wait for (`nf_conntrack_reasm.c`).
pub const FRAG6_TIMEOUT_S: u32 = 60;

/// How long datagram `k` is remembered, by its family.
fn timeout_of(k: &Key) -> u32 {
    if k.v6 {
        FRAG6_TIMEOUT_S
    } else {
        FRAG_TIMEOUT_S
    }
}

/// Seconds after its last fragment that a datagram's entry (refused or
/// not) is taken as done with by a first fragment of the same id, which
/// starts it over: another datagram that reuses the id (IPv4 ids wrap; one
/// fragment of the last lost on the way left its entry unfinished), where
/// a copy of a first fragment comes within milliseconds. The kernel starts
/// a refused datagram's id afresh at once (`inet_frag_kill` unhashes its
/// queue; what comes then lacks the dropped fragments and times out) and
/// an IPv4 queue by count ([`Frags::too_far`], kept too), never by time.
pub const RESTART_S: u32 = 2;

/// An IPv4 datagram is started over ([`Frags::too_far`]) when its source's
/// count of fragments (of datagrams tracked by the same worker) is more
/// than `--ipfrag-max-dist` on from the datagram's last to its next: that
/// many of other datagrams came between. This is its default, the kernel's
/// for `net.ipv4.ipfrag_max_dist`, which `ip_frag_too_far`
/// (`net/ipv4/ip_fragment.c`) applies with the source's `inet_peer` count.
/// IPv6 has no such rule in Linux.
pub const FRAG_MAX_DIST: u32 = 64;

/// Sources whose fragments are counted per worker: sets of [`WAYS`].
const PEER_SETS: usize = 256;

/// Datagrams remembered per worker: sets of [`WAYS`].
const SETS: usize = 256;
const WAYS: usize = 4;
/// Fragments held per worker while their datagram's first has not come.
pub const HELD: usize = 32;
/// Runs of adjacent fragments remembered per datagram to find overlaps
/// ([`Frags::admit`]): a fragment that would start a ninth is forwarded
/// unremembered (an overlap with it goes unseen). In-order fragments make
/// one run, so eight leave room for much reordering.
pub const RUNS: usize = 8;

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

/// A datagram: its addresses (IPv4 ones in the low 32 bits), protocol
/// (IPv4's, as `ip4_frag_match` compares it; IPv6: 0, as
/// `frag_v6_compare_key` has none: a fragment's next header may differ from
/// the first's, which alone counts, RFC 8200 4.5), IP id, family, and the
/// NIC it came from (the two directions of a connection are two datagrams).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) src: u128,
    pub(super) dst: u128,
    pub(super) id: u32,
    pub(super) proto: u8,
    pub(super) nic: u8,
    pub(super) v6: bool,
}

/// What a fragment's headers say: its datagram, the place of its data in the
/// datagram, and for a first fragment its upper-layer protocol and where its
/// header starts in the frame.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Piece {
    pub(super) key: Key,
    pub(super) off: u32,
    pub(super) len: u32,
    pub(super) more: bool,
    pub(super) upper: Option<(u8, u16)>,
    /// IPv6: where its fragment header starts in the packet (a parameter
    /// problem's pointer names its offset field); IPv4: 0.
    pub(super) at: u16,
}

/// Why the kernel's reassembly refuses a fragment whatever else of its
/// datagram came ([`Piece::fault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    /// It is refused silently.
    Silent,
    /// IPv6: refused with a parameter problem (code 0) pointing at this
    /// byte of the packet.
    Pointer(u32),
}

/// What a fragment's datagram makes of it ([`Frags::admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// Taken: on its way.
    Pass,
    /// Its bytes all came in one run of fragments already: dropped, the
    /// datagram goes on (`IPFRAG_DUP`).
    Dup,
    /// It overlaps part of the datagram that came: the datagram is refused.
    Overlap,
    /// Its end contradicts the datagram's, or it is empty: the datagram is
    /// refused.
    Invalid,
    /// Its datagram was refused already.
    Refused,
    /// Its datagram is not in the table (came whole already, or forgotten).
    Gone,
}

impl Piece {
    /// An IPv4 fragment, its header checked (20 bytes; `frame` cut to its
    /// total length).
    pub(super) fn v4(nic: Nic, frame: &[u8]) -> Piece {
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let len = usize::from(ip.total_len()).saturating_sub(ipv4::HEADER_LEN);
        let off = ip.frag_offset();
        Piece {
            key: Key {
                src: u128::from(ip.src_raw()),
                dst: u128::from(ip.dst_raw()),
                id: u32::from(ip.ident()),
                proto: ip.protocol(),
                nic: nic as u8,
                v6: false,
            },
            off: u32::from(off),
            len: len as u32,
            more: ip.more_frags(),
            upper: (off == 0).then_some((
                ip.protocol(),
                (ethernet::HEADER_LEN + ipv4::HEADER_LEN) as u16,
            )),
            at: 0,
        }
    }

    /// An IPv6 fragment: its fragment header and (first fragment) upper
    /// layer as `ipv6::walk_fragment` found them in `ip` (cut to its length).
    pub(super) fn v6(
        nic: Nic,
        ip: &Ipv6Packet<&[u8]>,
        (f, up): (FragmentHeader, Option<Upper>),
    ) -> Piece {
        let len = ip.total_len().saturating_sub(f.at + FragmentHeader::LEN);
        Piece {
            key: Key {
                src: ip.src().to_bits(),
                dst: ip.dst().to_bits(),
                id: f.ident,
                proto: 0,
                nic: nic as u8,
                v6: true,
            },
            off: u32::from(f.offset),
            len: len as u32,
            more: f.more,
            upper: up.map(|u| (u.protocol, (ethernet::HEADER_LEN + u.offset) as u16)),
            at: f.at as u16,
        }
    }

    /// Where its data starts and ends in the datagram, as the kernel counts
    /// them: an IPv4 fragment with more to come that is not a multiple of 8
    /// bytes ends at the last multiple (`ip_frag_queue` cuts it there).
    pub(super) fn span(&self) -> (u32, u32) {
        let end = self.off + self.len;
        match self.more && !self.key.v6 {
            true => (self.off, end & !7),
            false => (self.off, end),
        }
    }

    /// Whether the kernel refuses it on its own, and how. IPv6
    /// (`ip6_frag_queue`, RFC 8200 §4.5): data ending past 65535 bytes
    /// (pointing at the fragment offset), or M set and a length not a
    /// multiple of 8 (pointing at the payload length). IPv4: a datagram
    /// that would be over 65535 bytes with its header (`ip_frag_reasm`
    /// refuses it once whole). Both: no data (after IPv4's cut).
    pub(super) fn fault(&self) -> Option<Fault> {
        let (off, end) = self.span();
        if self.key.v6 {
            if end > 65535 {
                return Some(Fault::Pointer(u32::from(self.at) + 2));
            }
            if self.more && !self.len.is_multiple_of(8) {
                return Some(Fault::Pointer(4));
            }
        } else if end + ipv4::HEADER_LEN as u32 > 65535 {
            return Some(Fault::Silent);
        }
        (end == off).then_some(Fault::Silent)
    }
}

/// What the first fragment told about its datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Route {
    /// Nothing yet: the first fragment has not come.
    #[default]
    Unknown,
    /// To this worker: the connection's owner.
    Worker(u16),
    /// Handled here: the upper-layer protocol, where its header starts in
    /// the first fragment (for the rest: nowhere), its source and
    /// destination ports.
    Ports(u8, u16, u16),
    /// The same for a datagram of a one-packet-scheduling service, which
    /// has no connection: the real server its first fragment went to.
    OnePacket(u8, u16, u16, OpsTo),
    /// An echo request to one of our addresses: each fragment answered here
    /// by the reply's fragment at the same place.
    Echo,
    /// Refused (overlapping or malformed fragments): its fragments are
    /// dropped until it times out, as the kernel drops the queue.
    Refused,
    /// SCTP whose connection changes its port: the first fragment was
    /// dropped (`frag_nat.rs`), and so are the others.
    SctpPort,
}

/// The real server a one-packet-scheduling datagram's first fragment went
/// to: its id, and the address and port it was sent to. No
/// `Shared::held` sees the id here, so it may be another server's by the
/// time a late fragment comes (`config/ids.rs`): the fragment goes only
/// where the id still sends to the same address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct OpsTo {
    pub(super) dest: DestId,
    pub(super) rip: IpAddr,
    pub(super) rport: u16,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Entry {
    pub(super) key: Key,
    pub(super) live: bool,
    /// The second it was made (the worker's clock).
    pub(super) born: u32,
    pub(super) route: Route,
    /// The second one of its fragments was last handled.
    pub(super) last: u32,
    /// Payload bytes of its fragments handled so far, and the datagram's
    /// (known from its last fragment; 0 until then).
    pub(super) got: u32,
    pub(super) total: u32,
    /// The furthest end of its fragments so far (the kernel's `q.len`
    /// before the last comes).
    pub(super) high: u32,
    /// The runs of adjacent fragments taken (start, end), as the kernel's
    /// `inet_frag_queue_insert` makes them: a fragment that starts where
    /// the furthest run ends extends it, any other starts a run. The first
    /// `runs` are in use.
    pub(super) run: [(u16, u16); RUNS],
    pub(super) runs: u8,
    /// Its source's count at its last fragment ([`Frags::too_far`]).
    pub(super) mark: Mark,
}

impl Entry {
    /// Where `(off, end)` falls among the runs taken: clear of all, inside
    /// one (`Dup`), or across the edge of one (`Overlap`).
    fn clash(&self, (off, end): (u32, u32)) -> Option<Admit> {
        let run = &self.run[..usize::from(self.runs)];
        run.iter().find_map(|&(a, b)| {
            let (a, b) = (u32::from(a), u32::from(b));
            match () {
                _ if end <= a || off >= b => None,
                _ if off >= a && end <= b => Some(Admit::Dup),
                _ => Some(Admit::Overlap),
            }
        })
    }

    /// Remember `(off, end)`, clear of every run (both at most 65535).
    fn take(&mut self, (off, end): (u32, u32)) {
        let n = usize::from(self.runs);
        let furthest = (0..n).max_by_key(|&i| self.run[i].1);
        match furthest {
            Some(i) if u32::from(self.run[i].1) == off => self.run[i].1 = end as u16,
            _ if n < RUNS => {
                self.run[n] = (off as u16, end as u16);
                self.runs += 1;
            }
            // Unremembered: an overlap with it goes unseen.
            _ => {}
        }
    }
}

/// A held fragment: its bytes are slot `i` of `Frags::buf`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Held {
    pub(super) piece: Piece,
    pub(super) nic: Option<Nic>,
    pub(super) len: u16,
    pub(super) born: u32,
    pub(super) mark: Mark,
}

/// A worker's datagrams in flight and the fragments it holds; allocated once.
pub(super) struct Frags {
    /// Why the frame being handled was handed here, if it is a fragment
    /// (set around `handle` by `drain_handoffs`).
    pub(super) via: FragHop,
    /// The director's fanout key: datagrams' hashes are not the sender's
    /// to choose (no crafted ids that all land on one worker and set).
    pub(super) secret: u32,
    pub(super) entries: Vec<Entry>,
    pub(super) held: Vec<Held>,
    pub(super) buf: Vec<u8>,
    /// A held fragment's bytes while it is handled.
    pub(super) out: Vec<u8>,
    /// Some held fragments' datagram is known but its owner's ring had no
    /// room for them: tried again next pass.
    pub(super) stalled: bool,
    /// The real server the datagram being handled went to, if it was one of
    /// a one-packet-scheduling service (set by `ops.rs`): a first fragment's
    /// route then names it for the datagram's other fragments.
    pub(super) one_packet: Option<OpsTo>,
    /// IPv4 sources' fragment counts, allocated once; places made so far.
    pub(super) peers: Vec<Peer>,
    pub(super) made: u32,
    /// The count at the IPv4 fragment being handled (set by `too_far`),
    /// which the datagram it starts or the place it is held in keeps.
    pub(super) mark: Mark,
    /// A client's SCTP first fragment is on the NAT path (set by
    /// `frag_nat.rs`): a new connection that would change its port refuses
    /// it (`Core::new_conn`).
    pub(super) sctp_first: bool,
    /// The SCTP first fragment being handled was dropped for its port (set
    /// by `frag_nat.rs` and `Core::new_conn`): its datagram's other
    /// fragments are dropped too ([`Route::SctpPort`]).
    pub(super) sctp_refused: bool,
}

impl Default for Frags {
    fn default() -> Self {
        Frags {
            via: FragHop::None,
            secret: 0,
            entries: vec![Entry::default(); SETS * WAYS],
            held: vec![Held::default(); HELD],
            buf: vec![0; HELD * FRAME_MAX],
            out: vec![0; FRAME_MAX],
            stalled: false,
            one_packet: None,
            peers: vec![Peer::default(); PEER_SETS * WAYS],
            made: 0,
            mark: Mark::default(),
            sctp_first: false,
            sctp_refused: false,
        }
    }
}

/// Datagram `k`'s hash under `secret`: every 32-bit word of the key mixed
/// in turn into a state that starts from the secret, so which keys collide
/// depends on the secret (no id a sender picks lines its datagrams up on one
/// worker or set without knowing it).
fn hash(k: &Key, secret: u32) -> u32 {
    let words = |a: u128| {
        [
            a as u32,
            (a >> 32) as u32,
            (a >> 64) as u32,
            (a >> 96) as u32,
        ]
    };
    let tail = u32::from(k.proto) << 16 | u32::from(k.nic) << 8 | u32::from(k.v6);
    let mut h = u64::from(secret) << 32 | u64::from(!secret);
    for w in words(k.src)
        .into_iter()
        .chain(words(k.dst))
        .chain([k.id, tail])
    {
        h = (h ^ u64::from(w)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    }
    (h ^ h >> 32) as u32
}

/// The worker of `workers` that tracks datagram `k`: the same on every
/// worker, whichever one the fragment reached.
pub(super) fn tracker(k: &Key, secret: u32, workers: usize) -> usize {
    ((u64::from(hash(k, secret)) * workers as u64) >> 32) as usize
}

/// Whether a first fragment's upper layer (`proto`, its bytes `l4`) is an
/// ICMP or ICMPv6 echo request (its header whole: 8 bytes; any code, as
/// the unfragmented path answers).
pub(super) fn echo_request(proto: u8, l4: &[u8]) -> bool {
    use crate::wire::{icmpv4, icmpv6, ipv6::next_header};
    let want = match proto {
        protocol::ICMP => icmpv4::msg::ECHO_REQUEST,
        next_header::ICMPV6 => icmpv6::msg::ECHO_REQUEST,
        _ => return false,
    };
    l4.len() >= 8 && l4[0] == want
}

/// The ports and TCP flags (SCTP: the event) of a first fragment, if it is
/// TCP or UDP and holds its whole header, or SCTP and holds its common
/// header and its first chunk's header (what `sctp_event` reads, and IPVS's
/// `sctp_conn_schedule`: the shortest packet the director takes). A COOKIE
/// ECHO or COOKIE ACK first whose next chunk starts past the fragment is
/// taken as itself: an ABORT bundled behind it is not seen.
pub(super) fn first_ports(proto: u8, l4: &[u8]) -> Option<(u16, u16, u8)> {
    let need = match proto {
        protocol::TCP => tcp::HEADER_LEN,
        protocol::UDP => udp::HEADER_LEN,
        protocol::SCTP => sctp::MIN_LEN,
        _ => return None,
    };
    if l4.len() < need {
        return None;
    }
    let flags = match proto {
        protocol::TCP => l4[13],
        protocol::SCTP => crate::nat::state::sctp_event(&sctp::SctpPacket::new_unchecked(l4)),
        _ => 0,
    };
    let port = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    Some((port(0), port(2), flags))
}

impl Frags {
    pub(super) fn set(&mut self, k: &Key) -> &mut [Entry] {
        let s = (hash(k, self.secret) as usize % SETS) * WAYS;
        &mut self.entries[s..s + WAYS]
    }

    pub(super) fn find(&mut self, k: &Key, now: u32) -> Option<&mut Entry> {
        self.set(k)
            .iter_mut()
            .find(|e| e.live && e.key == *k && now.saturating_sub(e.born) < timeout_of(k))
    }

    /// Start datagram `k` (its first fragment came, or it is refused before
    /// it did): in its own way (expired), a free or expired one, or the one
    /// of its set's whose fragments came least recently. (A first fragment
    /// of a live datagram does not start it over: [`Frags::admit`] takes it
    /// as any other, a duplicate or an overlap.)
    pub(super) fn start(&mut self, k: Key, now: u32, route: Route) {
        let mark = self.mark;
        let set = self.set(&k);
        let old = |e: &Entry| !e.live || now.saturating_sub(e.born) >= timeout_of(&e.key);
        let at = set
            .iter()
            .position(|e| e.live && e.key == k)
            .or_else(|| set.iter().position(old))
            .or_else(|| (0..WAYS).min_by_key(|&i| set[i].last))
            .unwrap_or_default();
        set[at] = Entry {
            key: k,
            live: true,
            born: now,
            last: now,
            route,
            mark,
            ..Entry::default()
        };
    }

    /// Whether datagram `k` takes fragment `p` (its [`Piece::fault`]s
    /// already refused), as the kernel's reassembly queue would
    /// (`ip_frag_queue`, `ip6_frag_queue`, `inet_frag_queue_insert`): a
    /// last fragment that ends before data already come or elsewhere than
    /// an earlier last, or a fragment past the last's end, refuses the
    /// datagram; so does one overlapping part of a run of fragments taken
    /// (RFC 5722; Linux since 4.19 for IPv4 too); one lying inside a run is
    /// a duplicate, dropped alone. Taken, its bytes are counted.
    pub(super) fn admit(&mut self, p: &Piece, now: u32) -> Admit {
        let Some(e) = self.find(&p.key, now) else {
            return Admit::Gone;
        };
        if e.route == Route::Refused {
            return Admit::Refused;
        }
        let (off, end) = p.span();
        let contradicts = match p.more {
            false => end < e.high || (e.total != 0 && end != e.total),
            true => e.total != 0 && end > e.total,
        };
        // As the kernel, the datagram's end is learnt before the overlap
        // test, even from a fragment that turns out a duplicate.
        if !p.more {
            e.total = end;
        }
        e.high = e.high.max(end);
        let verdict = match contradicts {
            true => Some(Admit::Invalid),
            false => e.clash((off, end)),
        };
        match verdict {
            Some(Admit::Dup) => Admit::Dup,
            Some(v) => {
                e.route = Route::Refused;
                v
            }
            None => {
                e.take((off, end));
                e.got = e.got.saturating_add(end - off);
                e.last = now;
                Admit::Pass
            }
        }
    }

    /// Refuse datagram `k` (known or not) until it times out, and drop the
    /// fragments of it held here: how many.
    pub(super) fn refuse(&mut self, k: Key, now: u32) -> u64 {
        match self.find(&k, now) {
            Some(e) => e.route = Route::Refused,
            None => self.start(k, now, Route::Refused),
        }
        let mut n = 0;
        for h in &mut self.held {
            if h.nic.is_some() && h.piece.key == k {
                *h = Held::default();
                n += 1;
            }
        }
        n
    }

    /// Forget datagram `k` once all its bytes were handled.
    pub(super) fn complete(&mut self, k: &Key, now: u32) {
        if let Some(e) = self.find(k, now)
            && e.route != Route::Refused
            && e.total != 0
            && e.got >= e.total
        {
            e.live = false;
        }
    }

    /// Whether a fragment of `k` is held.
    pub(super) fn holds(&self, k: &Key) -> bool {
        self.held
            .iter()
            .any(|h| h.nic.is_some() && h.piece.key == *k)
    }

    /// Some held fragments' datagram is known and waits for room in its
    /// owner's ring.
    pub(super) fn stalled(&self) -> bool {
        self.stalled
    }

    /// Take a held fragment of `k` into `out`, its first fragment before
    /// any other; its piece, NIC and length.
    pub(super) fn take_held(&mut self, k: &Key) -> Option<(Piece, Nic, usize)> {
        let of_k = |h: &Held| h.nic.is_some() && h.piece.key == *k;
        let i = self
            .held
            .iter()
            .position(|h| of_k(h) && h.piece.upper.is_some())
            .or_else(|| self.held.iter().position(of_k))?;
        let h = std::mem::take(&mut self.held[i]);
        let len = usize::from(h.len);
        self.out[..len].copy_from_slice(&self.buf[i * FRAME_MAX..][..len]);
        h.nic.map(|nic| (h.piece, nic, len))
    }

    /// Hold `frame` (at most [`FRAME_MAX`] bytes): in a free slot, else in
    /// one held too long or, when all are young, the oldest's. Returns how
    /// many held fragments it dropped (0 or 1).
    pub(super) fn hold(&mut self, piece: Piece, nic: Nic, frame: &[u8], now: u32) -> u64 {
        let expired = |h: &Held| now.saturating_sub(h.born) >= timeout_of(&h.piece.key);
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
            piece,
            nic: Some(nic),
            len: frame.len() as u16,
            born: now,
            mark: self.mark,
        };
        self.buf[i * FRAME_MAX..][..frame.len()].copy_from_slice(frame);
        dropped
    }

    /// Drop the held fragments older than [`FRAG_TIMEOUT_S`] (IPv6:
    /// [`FRAG6_TIMEOUT_S`]); how many.
    pub(super) fn expire(&mut self, now: u32) -> u64 {
        let mut n = 0;
        for h in &mut self.held {
            if h.nic.is_some() && now.saturating_sub(h.born) >= timeout_of(&h.piece.key) {
                *h = Held::default();
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn piece(off: u32, len: u32, more: bool) -> Piece {
        let key = Key {
            id: 7,
            v6: true,
            ..Key::default()
        };
        Piece {
            key,
            off,
            len,
            more,
            ..Piece::default()
        }
    }

    /// A table with datagram 7 started, and the verdicts on `(off, len)`
    /// fragments with more to come, in turn.
    fn verdicts(spans: &[(u32, u32)]) -> Vec<Admit> {
        let mut f = Frags::default();
        f.start(piece(0, 0, true).key, 0, Route::Echo);
        spans
            .iter()
            .map(|&(off, len)| f.admit(&piece(off, len, true), 0))
            .collect()
    }

    #[test]
    fn runs_are_the_kernels() {
        use Admit::*;
        // In order, the fragments make one run: inside it is a duplicate.
        let v = verdicts(&[(0, 8), (8, 8), (4, 8)]);
        assert_eq!(v, [Pass, Pass, Dup]);
        // Out of order, `inet_frag_queue_insert` starts a run for the
        // middle one: across two runs is an overlap.
        let v = verdicts(&[(0, 8), (16, 8), (8, 8), (4, 8)]);
        assert_eq!(v, [Pass, Pass, Pass, Overlap]);
        // Sticking out of the furthest run, or a run's copy but longer.
        assert_eq!(verdicts(&[(0, 16), (8, 16)]), [Pass, Overlap]);
        assert_eq!(verdicts(&[(8, 8), (8, 16)]), [Pass, Overlap]);
        // Refused, the datagram takes nothing more.
        assert_eq!(
            verdicts(&[(0, 16), (8, 16), (16, 8)]),
            [Pass, Overlap, Refused]
        );
    }

    #[test]
    fn a_ninth_run_goes_unremembered() {
        use Admit::*;
        let spans: Vec<(u32, u32)> = (0..RUNS as u32 + 1).map(|i| (i * 32, 8)).collect();
        let mut v = verdicts(&spans);
        assert!(v.iter().all(|&a| a == Pass));
        // An overlap with the eighth run is seen, with the ninth not.
        let mut with = spans.clone();
        with.push((7 * 32 + 4, 8));
        v = verdicts(&with);
        assert_eq!(v.last(), Some(&Overlap));
        let mut with = spans;
        with.push((8 * 32 + 4, 8));
        v = verdicts(&with);
        assert_eq!(v.last(), Some(&Pass));
    }

    #[test]
    fn ends_that_contradict_refuse_the_datagram() {
        let mut f = Frags::default();
        let k = piece(0, 0, true).key;
        f.start(k, 0, Route::Echo);
        assert_eq!(f.admit(&piece(0, 16, true), 0), Admit::Pass);
        // A last fragment ending before data already come.
        assert_eq!(f.admit(&piece(8, 0, false), 0), Admit::Invalid);
        f.start(Key { id: 8, ..k }, 0, Route::Echo);
        let p = |off, len, more| Piece {
            key: Key { id: 8, ..k },
            ..piece(off, len, more)
        };
        assert_eq!(f.admit(&p(16, 4, false), 0), Admit::Pass);
        // Past the last's end.
        assert_eq!(f.admit(&p(16, 8, true), 0), Admit::Invalid);
    }

    #[test]
    fn a_source_pushed_out_has_its_datagrams_left_unchecked_once() {
        let mut f = Frags::default();
        let k = Key {
            src: 1,
            id: 7,
            ..Key::default()
        };
        // Its datagram marked at a count of 65, then 4096 other sources
        // push the source out.
        for id in 100..100 + FRAG_MAX_DIST {
            f.too_far(&Key { id, ..k }, 0, FRAG_MAX_DIST);
        }
        assert_eq!(f.too_far(&k, 0, FRAG_MAX_DIST), None);
        f.start(k, 0, Route::Echo);
        let place = |f: &Frags| f.peers.iter().any(|p| p.live && p.src == 1);
        assert!(place(&f), "counted");
        for src in 2..4098 {
            f.too_far(&Key { src, ..k }, 1, FRAG_MAX_DIST);
        }
        assert!(!place(&f), "pushed out");
        // Counted afresh from 0: its datagram's next fragment is not
        // compared with the lost count (which it is far below).
        f.too_far(&Key { id: 8, ..k }, 1, FRAG_MAX_DIST);
        assert_eq!(f.too_far(&k, 1, FRAG_MAX_DIST), None);
        assert!(f.find(&k, 1).is_some());
        // From there on it is: 64 others start it over.
        for id in 200..200 + FRAG_MAX_DIST {
            f.too_far(&Key { id, ..k }, 1, FRAG_MAX_DIST);
        }
        assert_eq!(f.too_far(&k, 1, FRAG_MAX_DIST), Some(0));
        assert!(f.find(&k, 1).is_none());
    }

    #[test]
    fn faults_alone() {
        // IPv6: M and a length not a multiple of 8; past 65535.
        let mut p = piece(8, 12, true);
        p.at = 40;
        assert_eq!(p.fault(), Some(Fault::Pointer(4)));
        let p6 = |off, len, more| Piece {
            at: 40,
            ..piece(off, len, more)
        };
        assert_eq!(p6(65528, 8, false).fault(), Some(Fault::Pointer(42)));
        assert_eq!(p6(65528, 7, false).fault(), None);
        assert_eq!(p6(8, 0, true).fault(), Some(Fault::Silent));
        // IPv4: cut to a multiple of 8, not refused; over 65535 with its
        // header; nothing left after the cut.
        let p4 = |off, len, more| Piece {
            key: Key {
                v6: false,
                ..Key::default()
            },
            ..piece(off, len, more)
        };
        assert_eq!(p4(0, 1001, true).span(), (0, 1000));
        assert_eq!(p4(0, 1001, true).fault(), None);
        assert_eq!(p4(65512, 3, false).fault(), None);
        assert_eq!(p4(65512, 4, false).fault(), Some(Fault::Silent));
        assert_eq!(p4(8, 7, true).fault(), Some(Fault::Silent));
    }
}
