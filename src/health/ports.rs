//! The checks' local ports ([`PORTS`], also the identifiers of their echo
//! requests): which are in use, so that no two checks in flight share one
//! (smoltcp hands a UDP answer to the first socket that takes it), and the
//! destination unreachables the workers divert about a UDP check's
//! datagram. Those are read here rather than by a smoltcp ICMP socket, which
//! takes an error only if it quotes the whole datagram: RFC 792 asks a
//! router for the first 8 bytes of the payload, and Linux quotes at most
//! 576 bytes of packet.

use super::PORTS;
use crate::wire::{icmpv4, icmpv6, ipv4, ipv6};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How many ports there are.
const N: usize = (*PORTS.end() - *PORTS.start()) as usize + 1;

/// One port's state.
#[derive(Clone, Copy)]
struct Slot {
    /// The server the check on it is for (None: the port is free).
    to: Option<(IpAddr, u16)>,
    /// A destination unreachable came about its datagram to that server.
    unreachable: bool,
}

/// The check ports in use, and the unreachables received about them: a
/// fixed table, so that no flood of errors makes it grow or slows it.
pub(super) struct Ports {
    slots: Vec<Slot>,
    /// Where the search for a free port starts (cycling, so a port is not
    /// used again at once and late packets of a check find it closed).
    next: usize,
}

impl Ports {
    pub(super) fn new() -> Self {
        let free = Slot {
            to: None,
            unreachable: false,
        };
        Ports {
            slots: vec![free; N],
            next: 0,
        }
    }

    /// A free port, now in use for a check of `server` (None: every port is
    /// in use).
    pub(super) fn take(&mut self, server: (IpAddr, u16)) -> Option<u16> {
        let i = (0..N)
            .map(|k| (self.next + k) % N)
            .find(|&i| self.slots[i].to.is_none())?;
        self.slots[i] = Slot {
            to: Some(server),
            unreachable: false,
        };
        self.next = (i + 1) % N;
        Some(*PORTS.start() + i as u16)
    }

    /// `port` is free again, and what was received about it forgotten.
    pub(super) fn free(&mut self, port: u16) {
        if let Some(slot) = index(port).and_then(|i| self.slots.get_mut(i)) {
            slot.to = None;
            slot.unreachable = false;
        }
    }

    /// Notes the IP packet `ip` if it is a destination unreachable about a
    /// UDP datagram from one of [`PORTS`] to the server of the check on it;
    /// true if it quotes a datagram from one of them at all (then nobody
    /// else needs it).
    pub(super) fn note(&mut self, ip: &[u8]) -> bool {
        let Some((port, addr, dport)) = unreach_about(ip) else {
            return false;
        };
        let Some(slot) = index(port).and_then(|i| self.slots.get_mut(i)) else {
            return false;
        };
        if slot.to == Some((addr, dport)) {
            slot.unreachable = true;
        }
        true
    }

    /// Whether a destination unreachable came about the datagram from
    /// `port` to the server of its check.
    pub(super) fn unreachable(&self, port: u16) -> bool {
        index(port)
            .and_then(|i| self.slots.get(i))
            .is_some_and(|s| s.unreachable)
    }
}

/// `port`'s place in [`PORTS`].
fn index(port: u16) -> Option<usize> {
    PORTS
        .contains(&port)
        .then(|| usize::from(port - *PORTS.start()))
}

/// The source port and the destination of the UDP datagram a destination
/// unreachable (ICMP type 3, ICMPv6 type 1) quotes, if `ip` is one (from
/// its IP header on). The quote needs the datagram's IP header and the
/// first 4 bytes of UDP, nothing more. An IPv6 one may come as an atomic
/// fragment; a piece of a datagram is not read.
pub(super) fn unreach_about(ip: &[u8]) -> Option<(u16, IpAddr, u16)> {
    let (quoted, v6) = match ip.first()? >> 4 {
        4 => {
            let hl = usize::from(ip.first()? & 0x0f) * 4;
            if *ip.get(9)? != ipv4::protocol::ICMP || hl < ipv4::HEADER_LEN {
                return None;
            }
            let icmp = ip.get(hl..)?;
            if *icmp.first()? != icmpv4::msg::DEST_UNREACHABLE {
                return None;
            }
            (icmp.get(8..)?, false)
        }
        6 => {
            let up = match ipv6::walk(*ip.get(6)?, ip, ipv6::HEADER_LEN) {
                Ok(up) => up,
                // An atomic fragment (RFC 6946) is the whole message behind
                // its fragment header, as the workers take it
                // (`frag::atomic6`) and divert it here.
                Err(ipv6::ExtError::Fragment) => ipv6::atomic_upper(ip)?,
                Err(_) => return None,
            };
            if up.protocol != ipv6::next_header::ICMPV6 {
                return None;
            }
            let icmp = ip.get(up.offset..)?;
            if *icmp.first()? != icmpv6::msg::DEST_UNREACHABLE {
                return None;
            }
            (icmp.get(8..)?, true)
        }
        _ => return None,
    };
    let (dst, at) = match (quoted.first()? >> 4, v6) {
        (4, false) => {
            let hl = usize::from(quoted.first()? & 0x0f) * 4;
            if *quoted.get(9)? != ipv4::protocol::UDP || hl < ipv4::HEADER_LEN {
                return None;
            }
            let d: [u8; 4] = quoted.get(16..20)?.try_into().ok()?;
            (IpAddr::V4(Ipv4Addr::from(d)), hl)
        }
        (6, true) => {
            let up = ipv6::walk(*quoted.get(6)?, quoted, ipv6::HEADER_LEN).ok()?;
            if up.protocol != ipv6::next_header::UDP {
                return None;
            }
            let d: [u8; 16] = quoted.get(24..40)?.try_into().ok()?;
            (IpAddr::V6(Ipv6Addr::from(d)), up.offset)
        }
        _ => return None,
    };
    let ports = quoted.get(at..at + 4)?;
    let sport = u16::from_be_bytes([ports[0], ports[1]]);
    let dport = u16::from_be_bytes([ports[2], ports[3]]);
    Some((sport, dst, dport))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An IPv4 port unreachable from `rs` to the DIP quoting `quote_len`
    /// bytes of a UDP datagram of 600 from `sport` to `rs:54`.
    fn unreach4(sport: u16, quote_len: usize) -> Vec<u8> {
        let mut dgram = vec![0u8; 20 + 8 + 600];
        dgram[0] = 0x45;
        dgram[9] = 17;
        dgram[12..16].copy_from_slice(&[198, 19, 0, 1]);
        dgram[16..20].copy_from_slice(&[198, 19, 0, 2]);
        dgram[20..22].copy_from_slice(&sport.to_be_bytes());
        dgram[22..24].copy_from_slice(&54u16.to_be_bytes());
        let mut ip = vec![0u8; 20];
        ip[0] = 0x45;
        ip[9] = 1;
        ip.extend_from_slice(&[3, 3, 0, 0, 0, 0, 0, 0]);
        ip.extend_from_slice(&dgram[..quote_len]);
        ip
    }

    fn rs(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 19, 0, n))
    }

    #[test]
    fn unreachables_are_read_from_short_quotes() {
        let full = unreach4(61007, 628);
        assert_eq!(unreach_about(&full), Some((61007, rs(2), 54)));
        // RFC 792's minimum: the IP header and 8 bytes; the ports suffice.
        assert_eq!(
            unreach_about(&unreach4(61007, 28)),
            Some((61007, rs(2), 54))
        );
        assert_eq!(
            unreach_about(&unreach4(61007, 24)),
            Some((61007, rs(2), 54))
        );
        assert_eq!(unreach_about(&unreach4(61007, 23)), None, "no ports");
        let mut short_header = full.clone();
        short_header[0] = 0x44;
        assert_eq!(unreach_about(&short_header), None, "IHL below 5");
        let mut time_exceeded = full.clone();
        time_exceeded[20] = 11;
        assert_eq!(unreach_about(&time_exceeded), None);
        let mut tcp = full.clone();
        tcp[28 + 9] = 6;
        assert_eq!(unreach_about(&tcp), None, "about TCP");
        for n in 0..full.len() {
            let _ = unreach_about(&full[..n]);
        }
        // IPv6: the quoted datagram after the ICMPv6 header.
        let (dip6, rs6): (Ipv6Addr, Ipv6Addr) = (
            "2001:2:0:2::1".parse().unwrap(),
            "2001:2:0:2::2".parse().unwrap(),
        );
        let mut q = [0u8; 48];
        q[0] = 0x60;
        q[6] = 17;
        q[8..24].copy_from_slice(&dip6.octets());
        q[24..40].copy_from_slice(&rs6.octets());
        q[40..42].copy_from_slice(&61999u16.to_be_bytes());
        q[42..44].copy_from_slice(&53u16.to_be_bytes());
        let mut ip = vec![0u8; 40];
        ip[0] = 0x60;
        ip[6] = 58;
        ip.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 0]);
        ip.extend_from_slice(&q[..44]);
        assert_eq!(unreach_about(&ip), Some((61999, IpAddr::V6(rs6), 53)));
        ip[40] = 129;
        assert_eq!(unreach_about(&ip), None, "an echo reply");
    }

    /// An IPv6 destination unreachable about a check's datagram, sent as an
    /// atomic fragment (RFC 6946), with the fragment header's offset and M
    /// flag `frag`.
    fn unreach6_behind_fragment(frag: u16) -> (Vec<u8>, Ipv6Addr) {
        let rs6: Ipv6Addr = "2001:2:0:2::2".parse().unwrap();
        let mut ip = vec![0u8; 40];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&(8u16 + 8 + 44).to_be_bytes());
        ip[6] = ipv6::next_header::FRAGMENT;
        ip.extend_from_slice(&[58, 0]);
        ip.extend_from_slice(&frag.to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x12, 0x34]);
        ip.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 0]);
        let mut q = [0u8; 44];
        q[0] = 0x60;
        q[6] = 17;
        q[8..24].copy_from_slice(&"2001:2:0:2::1".parse::<Ipv6Addr>().unwrap().octets());
        q[24..40].copy_from_slice(&rs6.octets());
        q[40..42].copy_from_slice(&61999u16.to_be_bytes());
        q[42..44].copy_from_slice(&53u16.to_be_bytes());
        ip.extend_from_slice(&q);
        (ip, rs6)
    }

    #[test]
    fn an_unreachable_as_an_atomic_fragment_is_read() {
        let (atomic, rs6) = unreach6_behind_fragment(0);
        assert_eq!(unreach_about(&atomic), Some((61999, IpAddr::V6(rs6), 53)));
        let mut p = Ports::new();
        let port = p.take((IpAddr::V6(rs6), 53)).unwrap();
        let (mut atomic, _) = unreach6_behind_fragment(0);
        atomic[56 + 40..56 + 42].copy_from_slice(&port.to_be_bytes());
        assert!(p.note(&atomic));
        assert!(p.unreachable(port));
        // A piece of a datagram (more to come, or a later one) is not.
        for frag in [1, 8] {
            let (piece, _) = unreach6_behind_fragment(frag);
            assert_eq!(unreach_about(&piece), None, "{frag}");
        }
    }

    #[test]
    fn ports_in_use_are_not_given_twice_and_errors_name_their_server() {
        let mut p = Ports::new();
        let to = (rs(2), 54);
        let a = p.take(to).unwrap();
        let b = p.take(to).unwrap();
        assert_eq!((a, b), (61000, 61001));
        for _ in 2..N {
            assert!(p.take((rs(3), 54)).is_some());
        }
        assert_eq!(p.take(to), None, "all {N} in use");
        p.free(61500);
        p.free(60999); // not a check port: nothing
        assert_eq!(p.take((rs(3), 54)), Some(61500));
        p.free(a);
        // About the datagram to the check's server: noted.
        assert!(p.note(&unreach4(b, 28)));
        assert!(p.unreachable(b));
        // About another server's, or a free port's: taken, not noted.
        let c = 61002;
        assert!(p.note(&unreach4(c, 28)), "quotes a check port");
        assert!(!p.unreachable(c), "its check is for 198.19.0.3");
        assert!(p.note(&unreach4(a, 28)));
        assert!(!p.unreachable(a), "free");
        assert!(!p.note(&[0x45; 40]), "not an unreachable");
        let mut other = unreach4(b, 28);
        other[48..50].copy_from_slice(&60999u16.to_be_bytes());
        assert!(!p.note(&other), "from another port: smoltcp's");
        p.free(b);
        assert!(!p.unreachable(b), "forgotten with its check");
        assert_eq!(p.take(to), Some(a), "the next free one");
    }
}
