//! Check replies diverted from the workers to the health thread, and the
//! servers the workers saw fail a handshake: the part of health checking that
//! lives on the packet path (the checks themselves are `crate::health`).
//!
//! A worker hands a TCP segment or UDP datagram to the DIP (or the IPv6
//! DIP) with a destination port in [`PORTS`], an echo reply to the DIP, and
//! an ICMP destination unreachable to the DIP about a UDP datagram from
//! such a port ([`is_check_error`]) to the health thread over a bounded
//! channel of pre-allocated boxes ([`Tap::divert`]: never blocks, never
//! allocates, counts drops), and marks a real server suspect with one atomic OR
//! ([`Tap::suspect`]). The channel carries IP packets of either version as
//! they came (from the IP header on); the health thread's smoltcp interface
//! tells them apart by their version nibble.

use crate::config::{DestId, MAX_DEST_IDS};
use crate::io::FRAME_MAX;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use std::net::Ipv6Addr;
use std::ops::RangeInclusive;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Local ports of check connections and datagrams (and the identifiers of
/// check echoes). Workers hand TCP segments and UDP datagrams to the DIP
/// with a destination port in this range to the health thread. No GUE
/// tunnel packet leaves the DIP from one of them (`gue_sport` keeps to
/// 32768–60998); an ICMP error about a datagram from them is still tried as
/// a tunnel's first.
pub const PORTS: RangeInclusive<u16> = 61000..=61999;
/// Packets in flight from the workers to the health thread at most.
pub const DEPTH: usize = 256;

/// Whether a TCP segment to the DIP with this destination port is a check's.
#[inline]
pub fn is_check_port(port: u16) -> bool {
    port >= *PORTS.start() && port <= *PORTS.end()
}

/// Whether an IPv6 packet of protocol `proto` (the upper-layer protocol, after
/// any extension headers) to `dst`, destination port `dport`, is the reply to a
/// health check: TCP or UDP to the IPv6 DIP `dip6` (None: IPv6 is off) on a
/// port of [`PORTS`]. The IPv6 data path asks this of every packet from a
/// real server before it looks for a connection, and hands those it accepts
/// to [`Tap::divert`] (the IPv6 header on), as the IPv4 one does with the DIP.
#[inline]
pub fn is_check_reply6(proto: u8, dst: Ipv6Addr, dport: u16, dip6: Option<Ipv6Addr>) -> bool {
    use crate::wire::ipv6::next_header::{TCP, UDP};
    // The address first: it fails at once for the connections' traffic.
    Some(dst) == dip6 && is_check_port(dport) && (proto == TCP || proto == UDP)
}

/// Whether an ICMP (ICMPv6) destination unreachable to the DIP (the IPv6
/// DIP) from the internal NIC, quoting a datagram of protocol `proto` from
/// port `sport`, is about a `UDP_CHECK`'s datagram. Such errors, and the
/// echo replies to the DIP (`PING_CHECK`: the director sends no other echo
/// from it), go to the health thread.
#[inline]
pub fn is_check_error(proto: u8, sport: u16) -> bool {
    proto == crate::wire::ipv4::protocol::UDP && is_check_port(sport)
}

/// An IP packet (IPv4 or IPv6) handed from a worker to the health thread.
pub struct Packet {
    len: u16,
    data: [u8; FRAME_MAX],
}

impl Packet {
    /// The IP packet's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..usize::from(self.len).min(FRAME_MAX)]
    }

    /// Takes the fragment header out of an IPv6 atomic fragment (RFC 6946:
    /// offset 0, M clear), leaving the whole packet it carries, as
    /// `ipv6_frag_rcv` (`net/ipv6/reassembly.c`) passes such a packet up
    /// past its fragment header: the health thread's smoltcp, built without
    /// IPv6 fragmentation, would answer the header with a parameter problem
    /// and read nothing behind it. Bytes past the payload length go too.
    /// True if it was one; any other packet is left as it is.
    pub fn unwrap_atomic6(&mut self) -> bool {
        use crate::wire::ipv6::{self, FragmentHeader, HEADER_LEN, Ipv6Packet};
        let ip = &self.data[..usize::from(self.len).min(FRAME_MAX)];
        let Ok(end) = Ipv6Packet::new_checked(ip).map(|p| p.total_len()) else {
            return false;
        };
        let ip = &ip[..end];
        let Some((f, _)) = ipv6::atomic_fragment(ip) else {
            return false;
        };
        // The next-header field naming it: the fixed header's, or that of
        // the extension header before it (their lengths checked by the walk).
        let (mut field, mut at) = (6, HEADER_LEN);
        while at < f.at {
            let Some(&len8) = ip.get(at + 1) else {
                return false;
            };
            (field, at) = (at, at + (usize::from(len8) + 1) * 8);
        }
        let (Ok(len), Ok(payload)) = (
            u16::try_from(end - FragmentHeader::LEN),
            u16::try_from(end - FragmentHeader::LEN - HEADER_LEN),
        ) else {
            return false;
        };
        if at != f.at {
            return false;
        }
        self.data[field] = f.next;
        self.data.copy_within(f.at + FragmentHeader::LEN..end, f.at);
        self.data[4..6].copy_from_slice(&payload.to_be_bytes());
        self.len = len;
        true
    }
}

struct Link {
    tx: Sender<Box<Packet>>,
    pool_rx: Receiver<Box<Packet>>,
    pool_tx: Sender<Box<Packet>>,
}

/// What workers share with the health thread (lives in [`Shared`](super::Shared)).
pub struct Tap {
    link: OnceLock<Link>,
    /// One bit per `DestId`: seen failing a handshake.
    suspect: Box<[AtomicU64]>,
    /// Segments handed to the health thread, and dropped because it was behind
    /// (or not running).
    pub diverted: AtomicU64,
    pub dropped: AtomicU64,
}

impl Default for Tap {
    fn default() -> Self {
        Tap {
            link: OnceLock::new(),
            suspect: (0..(MAX_DEST_IDS as usize).div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            diverted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }
}

/// The health thread's end of the [`Tap`].
pub struct TapRx {
    pub rx: Receiver<Box<Packet>>,
    /// Where used boxes go back.
    pub pool_tx: Sender<Box<Packet>>,
}

impl Tap {
    /// Connects the tap (once, before the workers start): boxes are allocated here
    /// and only circulate afterwards.
    pub fn connect(&self) -> Option<TapRx> {
        let (tx, rx) = bounded(DEPTH);
        let (pool_tx, pool_rx) = bounded(DEPTH);
        for _ in 0..DEPTH {
            let _ = pool_tx.try_send(Box::new(Packet {
                len: 0,
                data: [0; FRAME_MAX],
            }));
        }
        let link = Link {
            tx,
            pool_rx,
            pool_tx: pool_tx.clone(),
        };
        self.link.set(link).ok()?;
        Some(TapRx { rx, pool_tx })
    }

    /// Hands the IP packet `ip` (IPv4 or IPv6, from its IP header on) to the
    /// health thread: a copy into a pooled box and a `try_send`; never blocks,
    /// never allocates. False (and counted) if dropped.
    pub fn divert(&self, ip: &[u8]) -> bool {
        let Some(l) = self.link.get() else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let (Ok(mut b), Ok(len)) = (l.pool_rx.try_recv(), u16::try_from(ip.len())) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let Some(dst) = b.data.get_mut(..ip.len()) else {
            let _ = l.pool_tx.try_send(b);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        dst.copy_from_slice(ip);
        b.len = len;
        match l.tx.try_send(b) {
            Ok(()) => {
                self.diverted.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                let _ = l.pool_tx.try_send(b);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Packets workers handed to the tap so far, taken or dropped: a
    /// frame's outcome when it goes to the health thread.
    pub fn handed(&self) -> u64 {
        self.diverted.load(Ordering::Relaxed) + self.dropped.load(Ordering::Relaxed)
    }

    /// Marks real server `id` suspect (a worker saw it fail a handshake).
    #[inline]
    pub fn suspect(&self, id: DestId) {
        let i = id.0 as usize;
        if let Some(w) = self.suspect.get(i / 64) {
            w.fetch_or(1 << (i % 64), Ordering::Relaxed);
        }
    }

    /// Whether `id` was marked suspect since the last call; clears the mark.
    pub fn take_suspect(&self, id: DestId) -> bool {
        let i = id.0 as usize;
        let bit = 1u64 << (i % 64);
        self.suspect.get(i / 64).is_some_and(|w| {
            w.load(Ordering::Relaxed) & bit != 0 && w.fetch_and(!bit, Ordering::Relaxed) & bit != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspects_are_taken_once() {
        let t = Tap::default();
        assert!(!t.take_suspect(DestId(70)));
        t.suspect(DestId(70));
        t.suspect(DestId(MAX_DEST_IDS + 5)); // out of range: ignored
        assert!(!t.take_suspect(DestId(71)));
        assert!(t.take_suspect(DestId(70)));
        assert!(!t.take_suspect(DestId(70)));
    }

    #[test]
    fn check_replies6_are_tcp_to_the_ipv6_dip_on_a_check_port() {
        let dip6: Ipv6Addr = "2001:2:0:2::1".parse().unwrap();
        let other: Ipv6Addr = "2001:2:0:2::2".parse().unwrap();
        assert!(is_check_reply6(6, dip6, 61000, Some(dip6)));
        assert!(is_check_reply6(6, dip6, 61999, Some(dip6)));
        assert!(!is_check_reply6(6, dip6, 62000, Some(dip6)), "port");
        assert!(is_check_reply6(17, dip6, 61000, Some(dip6)), "UDP");
        assert!(!is_check_reply6(58, dip6, 61000, Some(dip6)), "ICMPv6");
        assert!(!is_check_reply6(6, other, 61000, Some(dip6)), "not the DIP");
        assert!(!is_check_reply6(6, dip6, 61000, None), "IPv6 off");
    }

    /// An IPv6 packet of `proto` with `ext` (each header's bytes, its
    /// next-header byte set here) before `l4`.
    fn ipv6_packet(ext: &[&[u8]], proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        let mut nexts: Vec<u8> = ext.iter().map(|h| h[0]).collect();
        nexts.push(proto);
        p[6] = nexts[0];
        for (i, h) in ext.iter().enumerate() {
            let mut h = h.to_vec();
            h[0] = nexts[i + 1];
            p.extend_from_slice(&h);
        }
        p.extend_from_slice(l4);
        let payload = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&payload.to_be_bytes());
        p
    }

    #[test]
    fn an_atomic_fragment_is_unwrapped_for_the_health_stack() {
        // Each header's first byte is its own type here; `ipv6_packet`
        // turns it into the next one's.
        const DEST_OPTS: &[u8] = &[60, 0, 1, 4, 0, 0, 0, 0];
        let frag = |flags: u16| {
            let f = flags.to_be_bytes();
            [44, 0, f[0], f[1], 0, 0, 0x12, 0x34]
        };
        let tcp: Vec<u8> = (0..20).collect();
        let whole = ipv6_packet(&[DEST_OPTS], 6, &tcp);
        let to_box = |ip: &[u8]| {
            let mut b = Box::new(Packet {
                len: ip.len() as u16,
                data: [0; FRAME_MAX],
            });
            b.data[..ip.len()].copy_from_slice(ip);
            b
        };
        for (ext, plain) in [
            (vec![&frag(0)[..]], ipv6_packet(&[], 6, &tcp)),
            (vec![DEST_OPTS, &frag(0)[..]], whole.clone()),
        ] {
            let mut b = to_box(&ipv6_packet(&ext, 6, &tcp));
            assert!(b.unwrap_atomic6());
            assert_eq!(b.bytes(), &plain[..]);
        }
        // With link-layer padding past the payload: taken out too.
        let mut padded = ipv6_packet(&[&frag(0)], 6, &tcp);
        padded.extend_from_slice(&[0; 6]);
        let mut b = to_box(&padded);
        assert!(b.unwrap_atomic6());
        assert_eq!(b.bytes(), &ipv6_packet(&[], 6, &tcp)[..]);
        // A piece of a datagram, a whole packet, IPv4: left as they are.
        for ip in [
            ipv6_packet(&[&frag(1)], 6, &tcp),
            ipv6_packet(&[&frag(8)], 6, &tcp),
            whole,
            [0x45; 40].to_vec(),
        ] {
            let mut b = to_box(&ip);
            assert!(!b.unwrap_atomic6());
            assert_eq!(b.bytes(), &ip[..]);
        }
    }

    #[test]
    fn divert_counts_drops_when_full_or_unconnected() {
        let t = Tap::default();
        assert!(!t.divert(&[0x45; 40]));
        let rx = t.connect().unwrap();
        assert!(t.connect().is_none(), "connects once");
        for _ in 0..DEPTH {
            assert!(t.divert(&[0x45; 40]));
        }
        assert!(!t.divert(&[0x45; 40]), "full");
        assert!(!t.divert(&[0; FRAME_MAX + 1]), "too long");
        assert_eq!(t.diverted.load(Ordering::Relaxed), DEPTH as u64);
        assert_eq!(t.dropped.load(Ordering::Relaxed), 3);
        let b = rx.rx.try_recv().unwrap();
        assert_eq!(b.bytes(), &[0x45; 40]);
    }
}
