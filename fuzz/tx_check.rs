//! What must hold of every frame the in-memory director transmits, whatever
//! it was fed ([`check`], called by `Harness::one_with` on each frame a
//! received frame caused to be sent):
//!
//! * **Ethernet**: the source MAC is the address of the NIC the frame
//!   leaves by (the director never sends as anyone else, DR and TUN
//!   included), and the frame fits that NIC's MTU (a bigger packet goes in
//!   fragments or is refused with an ICMP error).
//! * **IPv4**: version 4, a header of 20 to 60 bytes inside the total
//!   length, a good header checksum, a TTL above 0, no fragment ending
//!   past 65,535 bytes, a fragment the director made (of a packet received
//!   whole) with more to follow carrying a multiple of 8 bytes (RFC 791; a
//!   received fragment that does not is forwarded as it came, its receiver
//!   cuts it as the kernel's `ip_frag_queue` would), and a total length that
//!   is the frame's length less the Ethernet header: ringvs pads no frame
//!   (the kernel or the NIC pads a short one to 60 bytes) and cuts a
//!   received one to its IP length (`classify.rs`, `Segment::frame`), so
//!   nothing past the datagram is ever sent.
//! * **IPv6**: version 6, a payload length that is the frame's length less
//!   the Ethernet and fixed headers, a hop limit above 0.
//! * **L4 checksums** of a whole packet (no fragment; an IPv6 atomic
//!   fragment is whole): TCP, UDP, SCTP (CRC32c), ICMP, ICMPv6, as the
//!   crate's own verifiers (`checksum::l4_ok`, `l4_ok_v6`) and RFC 1071 say,
//!   when the received frame's own checksum was good or the ring called it
//!   partial (ringvs completes a partial checksum of everything it sends).
//!   A frame with a bad checksum that the ring vouched for (`csum_valid`)
//!   is forwarded with the checksum updated, not recomputed, so it stays
//!   bad: those are left out. A UDP checksum of 0 is sent over IPv4 only
//!   where the received datagram had 0 ("no checksum" stays so,
//!   `Delta::apply_udp`) or in a GUE tunnel's outer header (`--tun-nocsum`,
//!   `wire/encap.rs`); over IPv6 never (RFC 8200 §8.1). The packet an ICMP
//!   error quotes is cut short and is not looked into.
//! * **TTL**: a packet forwarded by NAT (one frame in, one out, counted
//!   `fwd_*`, of the same protocol and IPv4 identification, an address
//!   rewritten) leaves with the TTL it came with less one; IPv6 NAT and DR
//!   with the hop limit less one; IPv4 DR (addresses unchanged) with the
//!   same TTL, a deliberate difference from IPVS (`direct.rs`).

use ringvs::wire::checksum::{combine, fold, pseudo_header_v6, sum};
use ringvs::wire::ipv6;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The L4 checksum of a whole IP packet, as found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Sum {
    /// Not a whole IPv4/IPv6 TCP, UDP, SCTP, ICMP or ICMPv6 packet with a
    /// complete header (a fragment, something else, too short).
    NotChecked,
    Good,
    Bad,
    /// A UDP checksum of 0 ("none", valid over IPv4 only).
    UdpZero,
}

/// An IP packet's fields the checks compare.
#[derive(Clone, Copy, Debug)]
pub struct Ip {
    pub v6: bool,
    pub proto: u8,
    pub ttl: u8,
    /// IPv4 identification (0 for IPv6).
    pub id: u16,
    pub fragment: bool,
    /// IPv4 MF (more fragments) set.
    pub more: bool,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// The L4 checksum and the UDP destination port (0 if not UDP).
    pub l4: L4Sum,
    pub udp_dport: u16,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The smallest header of each protocol whose checksum is checked.
fn min_l4(proto: u8) -> Option<usize> {
    match proto {
        6 => Some(20),
        17 => Some(8),
        132 => Some(12),
        1 | 58 => Some(4),
        _ => None,
    }
}

/// The L4 checksum of `l4` of `proto` under the pseudo-header of `ends`.
fn l4_sum(proto: u8, ends: Ends, l4: &[u8]) -> L4Sum {
    let Some(min) = min_l4(proto) else {
        return L4Sum::NotChecked;
    };
    if l4.len() < min {
        return L4Sum::NotChecked;
    }
    if proto == 17 && l4[6..8] == [0, 0] {
        return L4Sum::UdpZero;
    }
    let ok = match (proto, ends) {
        (1, Ends::V4(..)) => fold(sum(l4)) == 0xffff,
        (58, Ends::V6(s, d)) => {
            fold(combine(
                pseudo_header_v6(s, d, 58, l4.len() as u32),
                sum(l4),
            )) == 0xffff
        }
        (1 | 58, _) => return L4Sum::NotChecked,
        (_, Ends::V4(s, d)) => ringvs::wire::checksum::l4_ok(proto, s, d, l4),
        (_, Ends::V6(s, d)) => ringvs::wire::checksum::l4_ok_v6(proto, s, d, l4),
    };
    if ok { L4Sum::Good } else { L4Sum::Bad }
}

#[derive(Clone, Copy)]
enum Ends {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

/// The IP packet of an Ethernet frame, if it has a sane IPv4 or IPv6
/// header inside the frame (its L4 looked at up to its IP length).
pub fn parse(f: &[u8]) -> Option<Ip> {
    match f.get(12..14)? {
        [8, 0] => {
            let ip = f.get(14..34)?;
            let ihl = usize::from(ip[0] & 15) * 4;
            let total = usize::from(be16(ip, 2));
            if ip[0] >> 4 != 4 || ihl < 20 || total < ihl || 14 + total > f.len() {
                return None;
            }
            let fragment = be16(ip, 6) & 0x3fff != 0;
            let (s, d) = (
                Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
                Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
            );
            let l4 = f.get(14 + ihl..14 + total)?;
            let l4sum = if fragment {
                L4Sum::NotChecked
            } else {
                l4_sum(ip[9], Ends::V4(s, d), l4)
            };
            Some(Ip {
                v6: false,
                proto: ip[9],
                ttl: ip[8],
                id: be16(ip, 4),
                fragment,
                more: be16(ip, 6) & 0x2000 != 0,
                src: s.to_ipv6_mapped().octets(),
                dst: d.to_ipv6_mapped().octets(),
                l4: l4sum,
                udp_dport: if ip[9] == 17 && l4.len() >= 8 && !fragment {
                    be16(l4, 2)
                } else {
                    0
                },
            })
        }
        [0x86, 0xdd] => {
            let ip = f.get(14..54)?;
            let end = 54 + usize::from(be16(ip, 4));
            if ip[0] >> 4 != 6 || end > f.len() {
                return None;
            }
            let packet = &f[14..end];
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&ip[8..24]);
            dst.copy_from_slice(&ip[24..40]);
            let (up, fragment) = match ipv6::walk(ip[6], packet, 40) {
                Ok(up) => (Some(up), false),
                Err(ipv6::ExtError::Fragment) => match ipv6::atomic_upper(packet) {
                    Some(up) => (Some(up), false),
                    None => (None, true),
                },
                Err(_) => (None, false),
            };
            let (proto, l4sum, udp_dport) = match up {
                Some(up) => {
                    let l4 = packet.get(up.offset..).unwrap_or(&[]);
                    let ends = Ends::V6(src.into(), dst.into());
                    let port = if up.protocol == 17 && l4.len() >= 8 {
                        be16(l4, 2)
                    } else {
                        0
                    };
                    (up.protocol, l4_sum(up.protocol, ends, l4), port)
                }
                None => (ip[6], L4Sum::NotChecked, 0),
            };
            Some(Ip {
                v6: true,
                proto,
                ttl: ip[7],
                id: 0,
                fragment,
                more: false,
                src,
                dst,
                l4: l4sum,
                udp_dport,
            })
        }
        _ => None,
    }
}

/// What the checks know of the frame that was received.
pub struct Input<'a> {
    pub frame: &'a [u8],
    /// The ring called its L4 checksum partial.
    pub partial: bool,
    /// The counters say it was forwarded through a connection (`fwd_*`),
    /// and it caused exactly one frame to be sent.
    pub forwarded: bool,
    /// The counters say a packet was put in a tunnel (`tunnel_encap`).
    pub tunnelled: bool,
    /// Our MAC on each NIC (external, internal).
    pub macs: [[u8; 6]; 2],
    /// The GUE tunnels' destination port.
    pub gue_port: u16,
    /// Each NIC's MTU (external, internal).
    pub mtu: [usize; 2],
}

/// How many transmitted frames each rule was applied to (a rule never
/// applied proves nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Frames checked (source MAC).
    pub frames: u64,
    /// IPv4 or IPv6 headers checked.
    pub ip: u64,
    /// L4 checksums verified (a whole packet, the received one sound).
    pub l4: u64,
    /// Forwarded packets whose TTL (hop limit) was compared.
    pub ttl: u64,
}

/// Panics, naming the rule and the frames, unless `out`, sent on the NIC
/// of index `nic`, keeps every rule of the module doc; counts in `applied`
/// the rules it was held to.
pub fn check(nic: usize, out: &[u8], input: &Input<'_>, applied: &mut Applied) {
    let fail = |what: &str| -> ! {
        panic!(
            "transmitted frame breaks an invariant: {what}\n  sent on NIC {nic}: {out:02x?}\n  received: {:02x?} (partial {})",
            input.frame, input.partial
        )
    };
    if out.len() < 14 {
        fail("shorter than an Ethernet header");
    }
    if out[6..12] != input.macs[nic] {
        fail("source MAC is not the NIC's");
    }
    if out.len() > 14 + input.mtu[nic] {
        fail("longer than the NIC's MTU");
    }
    applied.frames += 1;
    let header = match out[12..14] {
        [8, 0] => check4(out),
        [0x86, 0xdd] => check6(out),
        _ => return,
    };
    if let Err(what) = header {
        fail(what);
    }
    let Some(o) = parse(out) else {
        fail("IP header does not parse");
    };
    applied.ip += 1;
    if o.ttl == 0 {
        fail("TTL (hop limit) 0");
    }
    let i = parse(input.frame);
    // A fragment of ours: of a received packet that was none.
    if !o.v6
        && o.more
        && !(total_len(out) - ihl(out)).is_multiple_of(8)
        && i.is_some_and(|i| !i.fragment)
    {
        fail("a fragment with more to follow carries no multiple of 8 bytes");
    }
    // The received packet's checksum was good, or partial (then completed).
    let input_sound = input.partial
        || i.is_some_and(|i| matches!(i.l4, L4Sum::Good | L4Sum::UdpZero) || i.fragment);
    if input_sound && o.l4 != L4Sum::NotChecked {
        applied.l4 += 1;
    }
    match o.l4 {
        L4Sum::Bad if input_sound => fail("L4 checksum wrong"),
        L4Sum::UdpZero if o.v6 => fail("UDP checksum 0 over IPv6"),
        L4Sum::UdpZero => {
            let kept = i.is_some_and(|i| !i.v6 && i.l4 == L4Sum::UdpZero);
            let gue = input.tunnelled && o.udp_dport == input.gue_port;
            if !kept && !gue && input_sound {
                fail("UDP checksum 0 where the received datagram had one");
            }
        }
        _ => {}
    }
    if let Some(i) = i
        && input.forwarded
        && i.v6 == o.v6
        && i.proto == o.proto
        && i.id == o.id
        && !i.fragment
        && !o.fragment
        && !input.tunnelled
    {
        let rewritten = i.src != o.src || i.dst != o.dst;
        let want = if rewritten || o.v6 {
            i.ttl.wrapping_sub(1)
        } else {
            i.ttl
        };
        applied.ttl += 1;
        if o.ttl != want {
            fail(
                "TTL (hop limit) of a forwarded packet is not the received one's less one (IPv4 DR: the same)",
            );
        }
    }
}

/// An IPv4 frame's total length and header length (its header checked).
fn total_len(f: &[u8]) -> usize {
    usize::from(be16(f, 16))
}

fn ihl(f: &[u8]) -> usize {
    usize::from(f[14] & 15) * 4
}

/// The IPv4 header rules.
fn check4(out: &[u8]) -> Result<(), &'static str> {
    let Some(ip) = out.get(14..34) else {
        return Err("IPv4 header cut short");
    };
    let ihl = usize::from(ip[0] & 15) * 4;
    if ip[0] >> 4 != 4 || ihl < 20 {
        return Err("IPv4 version or header length");
    }
    let total = usize::from(be16(ip, 2));
    if total != out.len() - 14 {
        return Err("IPv4 total length is not the frame's length less 14");
    }
    if total < ihl {
        return Err("IPv4 header longer than the packet");
    }
    if fold(sum(&out[14..14 + ihl])) != 0xffff {
        return Err("IPv4 header checksum wrong");
    }
    let frag = be16(ip, 6);
    if usize::from(frag & 0x1fff) * 8 + total - ihl > 65535 - 20 {
        return Err("a fragment ends past the largest datagram");
    }
    Ok(())
}

/// The IPv6 header rules.
fn check6(out: &[u8]) -> Result<(), &'static str> {
    let Some(ip) = out.get(14..54) else {
        return Err("IPv6 header cut short");
    };
    if ip[0] >> 4 != 6 {
        return Err("IPv6 version");
    }
    if 54 + usize::from(be16(ip, 4)) != out.len() {
        return Err("IPv6 payload length is not the frame's length less 54");
    }
    Ok(())
}
