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
use crate::wire::{ethernet, tcp, udp};

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

/// A datagram: its addresses (IPv4 ones in the low 32 bits), protocol (IPv6:
/// the fragment header's next header), IP id, family, and the NIC it came
/// from (the two directions of a connection are two datagrams).
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
                proto: f.next,
                nic: nic as u8,
                v6: true,
            },
            off: u32::from(f.offset),
            len: len as u32,
            more: f.more,
            upper: up.map(|u| (u.protocol, (ethernet::HEADER_LEN + u.offset) as u16)),
        }
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
    OnePacket(u8, u16, u16, DestId),
    /// An echo request to one of our addresses: each fragment answered here
    /// by the reply's fragment at the same place.
    Echo,
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
}

/// A held fragment: its bytes are slot `i` of `Frags::buf`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Held {
    pub(super) piece: Piece,
    pub(super) nic: Option<Nic>,
    pub(super) len: u16,
    pub(super) born: u32,
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
    pub(super) one_packet: Option<DestId>,
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

/// The ports and TCP flags of a first fragment, if it is TCP or UDP and holds
/// its whole header.
pub(super) fn first_ports(proto: u8, l4: &[u8]) -> Option<(u16, u16, u8)> {
    let need = match proto {
        protocol::TCP => tcp::HEADER_LEN,
        protocol::UDP => udp::HEADER_LEN,
        _ => return None,
    };
    if l4.len() < need {
        return None;
    }
    let flags = if proto == protocol::TCP { l4[13] } else { 0 };
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

    /// Start datagram `k` (its first fragment came): in its own way, a free
    /// or expired one, or the one of its set's whose fragments came least
    /// recently. (A first fragment of a live datagram starts it over: the
    /// sender reused the id, or repeated the fragment.)
    pub(super) fn start(&mut self, k: Key, now: u32, route: Route) {
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
            got: 0,
            total: 0,
        };
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
