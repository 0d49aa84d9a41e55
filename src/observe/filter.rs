//! The capture/trace filter: a small subset of tcpdump's expressions.
//!
//! ```text
//! expr  := term { ("and" | "&&") term }
//! term  := ["not" | "!"] prim
//! prim  := "tcp" | "udp" | "sctp" | "icmp" | "icmp6" | "arp" | "ip" | "ip6"
//!        | [src | dst] [host] ADDR            host 198.18.0.1, src 2001:2:0:1::1
//!        | [src | dst] net ADDR/LEN            net 198.19.0.0/24, net 2001:2:0:2::/64
//!        | [src | dst] port N                  port 80, dst port 8080
//! ```
//!
//! An empty expression matches every frame. As in tcpdump, `ip` is IPv4 and `ip6`
//! IPv6, `icmp` is ICMPv4 and `icmp6` ICMPv6, while `tcp`, `udp`, `sctp` and
//! `port` match either family. `host`/`net` match the source or destination of the address's
//! family (IPv6 addresses written bare, as tcpdump takes them; for ARP, the sender
//! or target protocol address); `port` matches TCP, UDP and SCTP ports (never a
//! fragment).
//! IPv6 frames are looked at past their extension headers (`wire::ipv6::walk`).
//! Matching reads only the headers, allocates nothing and never panics on short or
//! malformed frames.

use crate::wire::ethernet::{EthernetFrame, ethertype};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv4::{self, Ipv4Packet, protocol};
use crate::wire::ipv6::{self, ExtError, Ipv6Packet, next_header};
use crate::wire::{ArpPacket, NeighborPacket, TcpPacket, UdpPacket, arp, ndp, tcp, udp};
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Either,
    Src,
    Dst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Arp,
    Ip,
    Icmp6,
    Ip6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prim {
    Kind(Kind),
    Net { side: Side, addr: u32, mask: u32 },
    Net6 { side: Side, addr: u128, mask: u128 },
    Port { side: Side, port: u16 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Term {
    not: bool,
    prim: Prim,
}

/// A parsed filter (at most [`MAX_TERMS`] terms, kept inline: no pointer chasing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<Term>,
    text: String,
}

/// Most terms one filter may hold.
pub const MAX_TERMS: usize = 16;

/// The headers a filter looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// IPv4 protocol number, or 0 for ARP / other.
    pub proto: u8,
    pub arp: bool,
    pub ip: bool,
    pub src: u32,
    pub dst: u32,
    /// TCP/UDP ports, when the frame has a complete first 4 bytes of them.
    pub ports: Option<(u16, u16)>,
    /// TCP flags, 0 otherwise.
    pub flags: u8,
    /// An IPv6 frame (`ip` is false): the addresses are `src6` and `dst6`
    /// (`Ipv6Addr::to_bits`), `proto` the upper-layer protocol past the
    /// extension headers.
    pub ip6: bool,
    pub src6: u128,
    pub dst6: u128,
    /// Why an IPv6 frame's extension headers could not be walked (then `proto`
    /// is 0 and there are no ports).
    pub ext_error: Option<ExtError>,
    /// The length tcpdump prints for an IPv6 frame: TCP or UDP payload bytes, the
    /// whole ICMPv6 message, or else the IPv6 payload; as the headers claim it.
    pub len6: u16,
    /// ICMPv6 type, code and bytes 4..8 (echo identifier and sequence, MTU,
    /// pointer).
    pub icmp6: Option<(u8, u8, u32)>,
    /// The target of a neighbor solicitation or advertisement.
    pub target6: u128,
}

/// Read the headers of an Ethernet frame (no VLAN tags; see `drop_vlan`). The
/// frame may be cut short (a capture's snap length): what it does not hold
/// stays unset.
pub fn summarize(frame: &[u8]) -> Summary {
    let mut s = Summary::default();
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return s;
    };
    let payload = eth.payload();
    match eth.ethertype() {
        ethertype::ARP if payload.len() >= arp::LEN => {
            // Only the addresses: a malformed ARP is still shown as one.
            let pkt = ArpPacket::new_unchecked(payload);
            s.arp = true;
            s.src = u32::from(pkt.sender_ip());
            s.dst = u32::from(pkt.target_ip());
        }
        ethertype::IPV4 if payload.len() >= ipv4::HEADER_LEN => {
            let ip = Ipv4Packet::new_unchecked(payload);
            if ip.version() != 4 {
                return s;
            }
            s.ip = true;
            s.src = ip.src_raw();
            s.dst = ip.dst_raw();
            s.proto = ip.protocol();
            // Only first fragments carry the L4 header.
            let ported = matches!(s.proto, protocol::TCP | protocol::UDP | protocol::SCTP);
            if ip.frag_offset() != 0 || !ported {
                return s;
            }
            let Some(l4) = payload.get(ip.header_len()..) else {
                return s;
            };
            // The ports are the first four bytes of TCP, UDP and SCTP alike.
            if l4.len() >= 4 {
                let ports = UdpPacket::new_unchecked(l4);
                s.ports = Some((ports.src_port(), ports.dst_port()));
            }
            if s.proto == protocol::TCP && l4.len() > tcp::FLAGS_OFFSET {
                s.flags = TcpPacket::new_unchecked(l4).flags();
            }
        }
        ethertype::IPV6 if payload.len() >= ipv6::HEADER_LEN => summarize6(payload, &mut s),
        _ => {}
    }
    s
}

/// The IPv6 part of [`summarize`].
fn summarize6(payload: &[u8], s: &mut Summary) {
    let ip = Ipv6Packet::new_unchecked(payload);
    if ip.version() != 6 {
        return;
    }
    s.ip6 = true;
    s.src6 = u128::from_be_bytes(ip.src_raw());
    s.dst6 = u128::from_be_bytes(ip.dst_raw());
    s.len6 = ip.payload_len();
    // Walk what the frame holds of the packet (a capture may have cut it).
    let end = ip.total_len().min(payload.len());
    let up = match ipv6::walk(ip.next_header(), &payload[..end], ipv6::HEADER_LEN) {
        Ok(up) => up,
        Err(e) => {
            s.ext_error = Some(e);
            // A fragment, first or not, is of its fragment header's next
            // header for `tcp`/`udp` (libpcap's `ip6[6] == 44 and ip6[40] ==
            // PROTO`); it has no ports for `port`.
            if e == ExtError::Fragment
                && let Ok((f, _)) =
                    ipv6::walk_fragment(ip.next_header(), &payload[..end], ipv6::HEADER_LEN)
            {
                s.proto = f.next;
            }
            return;
        }
    };
    s.proto = up.protocol;
    let l4 = &payload[up.offset..end];
    let l4_len = ip.total_len() - up.offset;
    s.len6 = l4_len as u16;
    match s.proto {
        next_header::TCP | next_header::UDP | next_header::SCTP if l4.len() >= 4 => {
            let ports = UdpPacket::new_unchecked(l4);
            s.ports = Some((ports.src_port(), ports.dst_port()));
            if s.proto == next_header::SCTP {
                // The length of the packet's chunks, header aside.
                s.len6 = (l4_len as u16).saturating_sub(12);
            } else if s.proto == next_header::UDP {
                s.len6 = (l4_len as u16).saturating_sub(udp::HEADER_LEN as u16);
            } else if let Ok(t) = TcpPacket::new_checked(l4) {
                s.flags = t.flags();
                s.len6 = (l4_len as u16).saturating_sub(t.header_len() as u16);
            } else if l4.len() > tcp::FLAGS_OFFSET {
                s.flags = TcpPacket::new_unchecked(l4).flags();
            }
        }
        next_header::ICMPV6 => {
            if let Ok(i) = Icmpv6Packet::new_checked(l4) {
                s.icmp6 = Some((i.msg_type(), i.code(), i.rest_of_header()));
            }
            if let Ok(n) = NeighborPacket::new_checked(l4)
                && ndp::is_neighbor_msg(n.msg_type())
            {
                s.target6 = n.target().to_bits();
            }
        }
        _ => {}
    }
}

impl Summary {
    /// An IPv6 frame's line as `tcpdump -n` prints it, without the timestamp:
    /// `IP6 2001:2:0:1::1.40000 > 2001:2:0:1::110.80: Flags [S], length 0`,
    /// `IP6 2001:2:0:1::1 > ff02::1:ff00:110: ICMP6, neighbor solicitation, who
    /// has 2001:2:0:1::110, length 32`. `None` for other frames. Approximate
    /// where tcpdump reads deeper than the summary: no TCP sequence numbers or
    /// options, no names of extension headers, ICMPv6 errors without the
    /// quoted packet's addresses, fragments as `frag`.
    pub fn tcpdump6(&self) -> Option<String> {
        if !self.ip6 {
            return None;
        }
        let (a, b) = (
            Ipv6Addr::from_bits(self.src6),
            Ipv6Addr::from_bits(self.dst6),
        );
        let len = self.len6;
        let line = match (self.ext_error, self.proto, self.ports, self.icmp6) {
            (Some(ExtError::Fragment), ..) => format!("IP6 {a} > {b}: frag, length {len}"),
            (Some(e), ..) => format!("IP6 {a} > {b}: [bad extension header: {e}], length {len}"),
            (None, next_header::TCP, Some((sp, dp)), _) => format!(
                "IP6 {a}.{sp} > {b}.{dp}: Flags [{}], length {len}",
                tcpdump_flags(self.flags)
            ),
            (None, next_header::UDP, Some((sp, dp)), _) => {
                format!("IP6 {a}.{sp} > {b}.{dp}: UDP, length {len}")
            }
            (None, next_header::SCTP, Some((sp, dp)), _) => {
                format!("IP6 {a}.{sp} > {b}.{dp}: sctp, length {len}")
            }
            (None, next_header::TCP, None, _) => format!("IP6 {a} > {b}: [|tcp]"),
            (None, next_header::UDP, None, _) => format!("IP6 {a} > {b}: [|udp]"),
            (None, next_header::ICMPV6, _, Some(icmp)) => format!(
                "IP6 {a} > {b}: ICMP6, {}, length {len}",
                icmp6_text(icmp, Ipv6Addr::from_bits(self.target6))
            ),
            (None, next_header::ICMPV6, _, None) => format!("IP6 {a} > {b}: [|icmp6]"),
            (None, p, ..) => format!("IP6 {a} > {b}: ip-proto-{p} {len}"),
        };
        Some(line)
    }
}

/// TCP flags as tcpdump writes them (`S.`, `P.`, `F.`, `none`): its letters
/// in its order (`tcp_flag_values` in tcpdump's print-tcp.c), URG `U`, ECE
/// `E` and CWR `W` included. Trace lines of both families use it.
pub fn tcpdump_flags(f: u8) -> String {
    let names = [
        (tcp::flags::FIN, 'F'),
        (tcp::flags::SYN, 'S'),
        (tcp::flags::RST, 'R'),
        (tcp::flags::PSH, 'P'),
        (tcp::flags::ACK, '.'),
        (tcp::flags::URG, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ];
    let s: String = names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, c)| *c)
        .collect();
    if s.is_empty() { "none".into() } else { s }
}

/// What tcpdump writes about an ICMPv6 message between `ICMP6, ` and its length.
fn icmp6_text((ty, code, rest): (u8, u8, u32), target: Ipv6Addr) -> String {
    use icmpv6::msg;
    let (id, seq) = (rest >> 16, rest & 0xffff);
    match ty {
        msg::ECHO_REQUEST => format!("echo request, id {id}, seq {seq}"),
        msg::ECHO_REPLY => format!("echo reply, id {id}, seq {seq}"),
        msg::NEIGHBOR_SOLICIT => format!("neighbor solicitation, who has {target}"),
        msg::NEIGHBOR_ADVERT => format!("neighbor advertisement, tgt is {target}"),
        msg::ROUTER_SOLICIT => "router solicitation".into(),
        msg::ROUTER_ADVERT => "router advertisement".into(),
        msg::REDIRECT => "redirect".into(),
        msg::PACKET_TOO_BIG => format!("packet too big, mtu {rest}"),
        msg::DEST_UNREACHABLE => format!("destination unreachable, code {code}"),
        msg::TIME_EXCEEDED if code == 0 => "time exceeded in-transit".into(),
        msg::TIME_EXCEEDED => "ip6 reassembly time exceeded".into(),
        msg::PARAM_PROBLEM => format!("parameter problem, code {code}, pointer {rest}"),
        130 => "multicast listener query".into(),
        131 => "multicast listener report".into(),
        132 => "multicast listener done".into(),
        143 => "multicast listener report v2".into(),
        _ => format!("type {ty}, code {code}"),
    }
}

impl Filter {
    /// Parse `text` (see the module documentation).
    pub fn parse(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut terms = Vec::new();
        let mut i = 0;
        while i < words.len() {
            if !terms.is_empty() {
                match words[i] {
                    "and" | "&&" => i += 1,
                    w => return Err(missing_and(&words, i, w)),
                }
            }
            let mut not = false;
            if let Some(&("not" | "!")) = words.get(i) {
                not = true;
                i += 1;
            }
            let (prim, used) = prim(&words[i..])?;
            i += used;
            if terms.len() == MAX_TERMS {
                return Err(format!("at most {MAX_TERMS} terms"));
            }
            terms.push(Term { not, prim });
        }
        Ok(Self {
            terms,
            text: words.join(" "),
        })
    }

    /// The expression, normalized.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the frame matches.
    #[inline]
    pub fn matches(&self, frame: &[u8]) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        self.matches_summary(&summarize(frame))
    }

    pub fn matches_summary(&self, s: &Summary) -> bool {
        self.terms.iter().all(|t| t.prim.eval(s) != t.not)
    }
}

impl Prim {
    fn eval(&self, s: &Summary) -> bool {
        let side = |side: Side, f: &dyn Fn(u32) -> bool, src, dst| match side {
            Side::Either => f(src) || f(dst),
            Side::Src => f(src),
            Side::Dst => f(dst),
        };
        let ip = s.ip || s.ip6;
        match *self {
            Prim::Kind(Kind::Arp) => s.arp,
            Prim::Kind(Kind::Ip) => s.ip,
            Prim::Kind(Kind::Ip6) => s.ip6,
            Prim::Kind(Kind::Tcp) => ip && s.proto == protocol::TCP,
            Prim::Kind(Kind::Udp) => ip && s.proto == protocol::UDP,
            Prim::Kind(Kind::Sctp) => ip && s.proto == protocol::SCTP,
            Prim::Kind(Kind::Icmp) => s.ip && s.proto == protocol::ICMP,
            Prim::Kind(Kind::Icmp6) => s.ip6 && s.proto == next_header::ICMPV6,
            Prim::Net {
                side: d,
                addr,
                mask,
            } => (s.ip || s.arp) && side(d, &|a| a & mask == addr, s.src, s.dst),
            Prim::Net6 {
                side: d,
                addr,
                mask,
            } => {
                let hit = |a: u128| a & mask == addr;
                s.ip6
                    && match d {
                        Side::Either => hit(s.src6) || hit(s.dst6),
                        Side::Src => hit(s.src6),
                        Side::Dst => hit(s.dst6),
                    }
            }
            Prim::Port { side: d, port } => match s.ports {
                Some((sp, dp)) => side(d, &|p| p == u32::from(port), u32::from(sp), u32::from(dp)),
                None => false,
            },
        }
    }
}

fn prim(w: &[&str]) -> Result<(Prim, usize), String> {
    let Some(&first) = w.first() else {
        return Err("filter ends where a term was expected".into());
    };
    let kind = match first {
        "tcp" => Some(Kind::Tcp),
        "udp" => Some(Kind::Udp),
        "sctp" => Some(Kind::Sctp),
        "icmp" => Some(Kind::Icmp),
        "arp" => Some(Kind::Arp),
        "ip" => Some(Kind::Ip),
        "icmp6" => Some(Kind::Icmp6),
        "ip6" => Some(Kind::Ip6),
        _ => None,
    };
    if let Some(k) = kind {
        return Ok((Prim::Kind(k), 1));
    }
    let (side, mut i) = match first {
        "src" => (Side::Src, 1),
        "dst" => (Side::Dst, 1),
        _ => (Side::Either, 0),
    };
    let word = |i: usize| {
        w.get(i)
            .copied()
            .ok_or_else(|| format!("`{}` needs a value", w[..i].join(" ")))
    };
    match word(i)? {
        "port" => {
            let v = word(i + 1)?;
            let port =
                number::<u16>(v).ok_or_else(|| format!("bad port `{v}`{}", octal_hint(v)))?;
            Ok((Prim::Port { side, port }, i + 2))
        }
        "net" => {
            let v = word(i + 1)?;
            let (a, len) = v
                .split_once('/')
                .ok_or_else(|| format!("`net` needs ADDR/LEN, not `{v}`"))?;
            if a.contains(':') {
                return Ok((net6(side, a, len, v)?, i + 2));
            }
            let addr: Ipv4Addr = a.parse().map_err(|_| format!("bad address `{a}`"))?;
            let len: u32 = number(len)
                .filter(|l| *l <= 32)
                .ok_or_else(|| format!("bad prefix length in `{v}`{}", octal_hint(len)))?;
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            // As tcpdump: an address with bits past its prefix is a mistake.
            if u32::from(addr) & !mask != 0 {
                return Err(format!("non-network bits set in `{v}`"));
            }
            Ok((
                Prim::Net {
                    side,
                    addr: u32::from(addr) & mask,
                    mask,
                },
                i + 2,
            ))
        }
        v => {
            if v == "host" {
                i += 1;
            }
            let v = word(i)?;
            if v.contains(':') {
                return Ok((net6(side, v, "128", v)?, i + 1));
            }
            let addr: Ipv4Addr = v.parse().map_err(|_| match v.strip_prefix('!') {
                Some(rest) if !rest.is_empty() => {
                    format!("unknown filter word `{v}`: write `! {rest}` or `not {rest}`")
                }
                _ => format!("unknown filter word `{v}`"),
            })?;
            Ok((
                Prim::Net {
                    side,
                    addr: u32::from(addr),
                    mask: u32::MAX,
                },
                i + 1,
            ))
        }
    }
}

/// A number as libpcap's scanner reads one (`scanner.l`, `stoulen`): `0x`
/// or `0X` then hex digits, `0` then octal digits (`port 010` is port 8,
/// `port 080` an error), or decimal digits; no sign (tcpdump refuses `port
/// +80`, which Rust's `parse` takes). `None` if not one, or too big for `T`.
fn number<T: TryFrom<u32>>(v: &str) -> Option<T> {
    let (digits, radix) = match v.as_bytes() {
        [b'0', b'x' | b'X', ..] => (&v[2..], 16),
        [b'0', _, ..] => (&v[1..], 8),
        _ => (v, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = u32::from_str_radix(digits, radix).ok()?;
    T::try_from(n).ok()
}

/// What to add to the error about number `v`: a leading 0 makes it octal,
/// as in tcpdump, which a decimal reader would not expect.
fn octal_hint(v: &str) -> &'static str {
    match v.as_bytes() {
        [b'0', b'x' | b'X', ..] => "",
        [b'0', _, ..] => " (a number with a leading 0 is octal, as tcpdump reads it)",
        _ => "",
    }
}

/// The error for term `w` (at `words[i]`) following another without `and`,
/// with the spelling this grammar takes for tcpdump's forms (`tcp port 80`,
/// `ip proto 6`).
fn missing_and(words: &[&str], i: usize, w: &str) -> String {
    if w == "proto" {
        return "expected `and` before `proto`: there is no `proto`; write `tcp`, `udp`, \
`sctp`, `icmp` or `icmp6`"
            .into();
    }
    format!(
        "expected `and` before `{w}`: write `{} and {}`",
        words[..i].join(" "),
        words[i..].join(" ")
    )
}

/// `net ADDR/LEN` (or `host ADDR`, as LEN 128) with an IPv6 address; `v` is the
/// word as written, for messages.
fn net6(side: Side, addr: &str, len: &str, v: &str) -> Result<Prim, String> {
    let addr: Ipv6Addr = addr
        .parse()
        .map_err(|_| format!("bad IPv6 address `{addr}`"))?;
    let len: u32 = number(len)
        .filter(|l| *l <= 128)
        .ok_or_else(|| format!("bad prefix length in `{v}`{}", octal_hint(len)))?;
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    if addr.to_bits() & !mask != 0 {
        return Err(format!("non-network bits set in `{v}`"));
    }
    Ok(Prim::Net6 {
        side,
        addr: addr.to_bits() & mask,
        mask,
    })
}

#[cfg(test)]
mod test {
    use super::*;

    fn tcp(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[23] = 6;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sp.to_be_bytes());
        f[36..38].copy_from_slice(&dp.to_be_bytes());
        f[47] = 0x02;
        f
    }

    #[test]
    fn expressions_match_what_they_say() {
        let f = tcp([198, 18, 0, 1], 40000, [198, 18, 0, 110], 80);
        let yes = [
            "",
            "tcp",
            "ip",
            "host 198.18.0.1",
            "198.18.0.110",
            "src 198.18.0.1",
            "dst host 198.18.0.110",
            "port 80",
            "dst port 80",
            "src port 40000",
            "net 198.18.0.0/24 and tcp && port 80",
            "not udp",
            "! arp and not port 81",
        ];
        for e in yes {
            assert!(Filter::parse(e).unwrap().matches(&f), "{e}");
        }
        let no = [
            "udp",
            "icmp",
            "arp",
            "src 198.18.0.110",
            "dst port 40000",
            "port 81",
            "net 198.19.0.0/16",
            "tcp and port 443",
            "not tcp",
        ];
        for e in no {
            assert!(!Filter::parse(e).unwrap().matches(&f), "{e}");
        }
        let s = summarize(&f);
        assert_eq!(s.flags, 0x02);
    }

    const C6: &str = "2001:2:0:1::1";
    const V6: &str = "2001:2:0:1::110";

    fn a6(s: &str) -> Ipv6Addr {
        s.parse().expect("an IPv6 address")
    }

    /// An Ethernet frame holding an IPv6 packet from `src` to `dst` with the
    /// extension headers `ext` (the first of type `first`) and then `l4` of
    /// protocol `proto`.
    fn ip6(src: &str, dst: &str, (first, ext): (u8, &[u8]), proto: u8, l4: &[u8]) -> Vec<u8> {
        let ends = crate::wire::Endpoints {
            src_mac: crate::wire::Mac([2, 0, 0, 0, 0, 1]),
            dst_mac: crate::wire::Mac([2, 0, 0, 0, 0, 2]),
            src: a6(src),
            dst: a6(dst),
        };
        let mut f = vec![0u8; 14 + 40 + ext.len() + l4.len()];
        let nh = if ext.is_empty() { proto } else { first };
        ipv6::emit_headers(&mut f, &ends, nh, 64, ext.len() + l4.len()).expect("fits");
        f[54..54 + ext.len()].copy_from_slice(ext);
        f[54 + ext.len()..].copy_from_slice(l4);
        f
    }

    /// TCP SYN (or UDP) ports `sp` > `dp` with `data` bytes of payload.
    fn l4_ports(tcp: bool, sp: u16, dp: u16, data: usize) -> Vec<u8> {
        let hl = if tcp { 20 } else { 8 };
        let mut l4 = vec![0u8; hl + data];
        l4[0..2].copy_from_slice(&sp.to_be_bytes());
        l4[2..4].copy_from_slice(&dp.to_be_bytes());
        if tcp {
            l4[12] = 0x50;
            l4[13] = tcp::flags::SYN;
        } else {
            l4[4..6].copy_from_slice(&((hl + data) as u16).to_be_bytes());
        }
        l4
    }

    fn yes_no(f: &[u8], yes: &[&str], no: &[&str]) {
        for e in yes {
            assert!(Filter::parse(e).expect(e).matches(f), "should match: {e}");
        }
        for e in no {
            assert!(
                !Filter::parse(e).expect(e).matches(f),
                "should not match: {e}"
            );
        }
    }

    #[test]
    fn ipv6_primitives_match_what_they_say() {
        // TCP behind a destination-options header.
        let dest_opts: &[u8] = &[6, 0, 1, 4, 0, 0, 0, 0];
        let f = ip6(C6, V6, (60, dest_opts), 6, &l4_ports(true, 40000, 80, 0));
        yes_no(
            &f,
            &[
                "ip6",
                "tcp",
                "not ip",
                "not udp and not icmp6",
                "host 2001:2:0:1::1",
                "2001:2:0:1::110",
                "src 2001:2:0:1::1",
                "dst host 2001:2:0:1::110",
                "net 2001:2:0:1::/64",
                "src net 2001:2::/48 and dst net 2001:2:0:1::100/120",
                "net ::/0",
                "port 80 and src port 40000",
                "ip6 and tcp and dst port 80",
            ],
            &[
                "ip",
                "udp",
                "icmp",
                "icmp6",
                "arp",
                "host 2001:2:0:1::2",
                "dst 2001:2:0:1::1",
                "src 2001:2:0:1::110",
                "net 2001:2:0:2::/64",
                "dst net 2001:2:0:1::/120",
                "port 81",
                "dst port 40000",
                "host 198.18.0.1",
                "net 0.0.0.0/0",
            ],
        );
        let s = summarize(&f);
        assert!(s.ip6 && !s.ip);
        assert_eq!((s.src6, s.dst6), (a6(C6).to_bits(), a6(V6).to_bits()));
        assert_eq!((s.proto, s.ports, s.flags), (6, Some((40000, 80)), 0x02));

        let u = ip6(C6, V6, (0, &[]), 17, &l4_ports(false, 53000, 53, 29));
        yes_no(
            &u,
            &["udp", "port 53", "ip6 and src port 53000"],
            &["tcp", "port 80"],
        );
        // SCTP: ports, `sctp`, and its line (ports 5000 > 5001, one INIT).
        let mut init = vec![0x13, 0x88, 0x13, 0x89, 0, 0, 0, 0, 0, 0, 0, 0];
        init.extend_from_slice(&[1, 0, 0, 20]);
        init.resize(32, 0);
        let sc = ip6(C6, V6, (0, &[]), 132, &init);
        yes_no(
            &sc,
            &["sctp", "port 5000", "ip6 and dst port 5001", "not tcp"],
            &["tcp", "udp", "port 80"],
        );
        assert_eq!(
            summarize(&sc).tcpdump6().as_deref(),
            Some("IP6 2001:2:0:1::1.5000 > 2001:2:0:1::110.5001: sctp, length 20")
        );
        let echo = [128, 0, 0, 0, 0x1c, 0x2b, 0, 1];
        let i = ip6(C6, V6, (0, &[]), 58, &echo);
        yes_no(
            &i,
            &["icmp6", "ip6", "not port 0"],
            &["icmp", "tcp", "udp", "ip"],
        );

        // IPv4 frames are not IPv6 ones.
        let v4 = tcp([198, 18, 0, 1], 40000, [198, 18, 0, 110], 80);
        yes_no(
            &v4,
            &["not ip6", "not icmp6", "tcp"],
            &["ip6", "net ::/0", "host 2001:2:0:1::1"],
        );
    }

    /// Ports never match an IPv6 fragment or a chain that cannot be walked;
    /// a fragment, first or later, is `tcp` by its fragment header's next
    /// header, as libpcap reads it (`ip6[6] == 44 and ip6[40] == 6`).
    #[test]
    fn ipv6_ports_never_match_fragments_or_bad_chains() {
        let l4 = l4_ports(true, 40000, 80, 0);
        let first: &[u8] = &[6, 0, 0, 1, 0, 0, 0, 1];
        let later: &[u8] = &[6, 0, 0x05, 0x48, 0, 0, 0, 1];
        for frag in [first, later] {
            let f = ip6(C6, V6, (44, frag), 6, &l4);
            yes_no(
                &f,
                &["ip6", "host 2001:2:0:1::110", "tcp"],
                &["port 80", "udp"],
            );
            assert_eq!(summarize(&f).ext_error, Some(ExtError::Fragment));
        }
        let route: &[u8] = &[6, 0, 4, 1, 0, 0, 0, 0];
        let f = ip6(C6, V6, (43, route), 6, &l4);
        yes_no(&f, &["ip6", "host 2001:2:0:1::110"], &["port 80", "tcp"]);
        assert_eq!(summarize(&f).ext_error, Some(ExtError::SourceRoute));
    }

    /// Numbers without a sign, as tcpdump reads them; tcpdump's forms this
    /// grammar refuses get the spelling it takes in their error.
    #[test]
    fn tcpdump_forms_are_refused_with_the_spelling_to_use() {
        for e in [
            "port +80",
            "net 198.18.0.0/+16",
            "net 2001:2::/+48",
            "port -1",
        ] {
            let err = Filter::parse(e).expect_err(e);
            assert!(err.starts_with("bad "), "{e}: {err}");
        }
        let hint = |e: &str| Filter::parse(e).expect_err(e);
        assert!(hint("tcp port 80").ends_with("write `tcp and port 80`"));
        assert!(
            hint("tcp and src host 198.18.0.1 dst port 80")
                .ends_with("write `tcp and src host 198.18.0.1 and dst port 80`")
        );
        assert!(hint("!tcp").ends_with("write `! tcp` or `not tcp`"));
        assert!(hint("ip proto 6").contains("write `tcp`"));
        assert!(Filter::parse("! tcp and port 80 and net 198.18.0.0/16").is_ok());
    }

    /// Numbers as libpcap's scanner reads them (`scanner.l`, `stoulen`):
    /// a leading 0 is octal, `0x` hex, so `port 010` is port 8 in tcpdump,
    /// and `port 080` an error that says why.
    #[test]
    fn numbers_are_read_octal_and_hex_as_tcpdump_reads_them() {
        let port = |e: &str| match Filter::parse(e).map(|f| f.terms[0].prim) {
            Ok(Prim::Port { port, .. }) => Ok(port),
            Ok(p) => panic!("{e}: {p:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(port("port 010"), Ok(8));
        assert_eq!(port("port 0x50"), Ok(80));
        assert_eq!(port("port 0X1bb"), Ok(443));
        assert_eq!(port("port 80"), Ok(80));
        assert_eq!(port("port 0"), Ok(0));
        let err = port("port 080").expect_err("8 is not an octal digit");
        assert!(err.contains("leading 0 is octal"), "{err}");
        for e in ["port 0x", "port 0x1g", "port 0x10000", "port 65536"] {
            assert!(port(e).is_err(), "{e}");
        }
        let net = |e: &str| Filter::parse(e).map(|f| f.terms[0].prim);
        let want = Prim::Net {
            side: Side::Either,
            addr: 0xc612_0000,
            mask: 0xffff_0000,
        };
        assert_eq!(net("net 198.18.0.0/020"), Ok(want));
        assert_eq!(net("net 198.18.0.0/0x10"), Ok(want));
        let err = net("net 198.18.0.0/016").expect_err("/14 has host bits");
        assert!(err.contains("non-network bits"), "{err}");
        let err = net("net 2001:2::/048").expect_err("8 is not an octal digit");
        assert!(err.contains("leading 0 is octal"), "{err}");
    }

    /// `net` with bits past its prefix is refused, as tcpdump refuses it.
    #[test]
    fn net_with_host_bits_is_refused() {
        for e in ["net 198.18.0.1/24", "src net 2001:2:0:1::1/64"] {
            let err = Filter::parse(e).expect_err(e);
            assert!(err.contains("non-network bits"), "{e}: {err}");
        }
        assert!(Filter::parse("net 198.18.0.0/15").is_ok());
    }

    #[test]
    fn ipv6_summaries_read_as_tcpdump_writes_them() {
        let line = |f: &[u8]| summarize(f).tcpdump6().expect("an IPv6 frame");
        let syn = ip6(C6, V6, (0, &[]), 6, &l4_ports(true, 40000, 80, 0));
        assert_eq!(
            line(&syn),
            "IP6 2001:2:0:1::1.40000 > 2001:2:0:1::110.80: Flags [S], length 0"
        );
        let mut ack = l4_ports(true, 80, 40000, 100);
        ack[13] = tcp::flags::PSH | tcp::flags::ACK;
        assert_eq!(
            line(&ip6(V6, C6, (0, &[]), 6, &ack)),
            "IP6 2001:2:0:1::110.80 > 2001:2:0:1::1.40000: Flags [P.], length 100"
        );
        let udp = ip6(C6, V6, (0, &[]), 17, &l4_ports(false, 53000, 53, 29));
        assert_eq!(
            line(&udp),
            "IP6 2001:2:0:1::1.53000 > 2001:2:0:1::110.53: UDP, length 29"
        );
        let mut echo = vec![128, 0, 0, 0, 0x1c, 0x2b, 0, 1];
        echo.resize(64, 0);
        assert_eq!(
            line(&ip6(C6, V6, (0, &[]), 58, &echo)),
            "IP6 2001:2:0:1::1 > 2001:2:0:1::110: ICMP6, echo request, id 7211, seq 1, length 64"
        );
        let mut buf = [0; 128];
        let our = crate::wire::Mac([2, 0, 0, 0, 0, 2]);
        let n = ndp::emit_solicit(&mut buf, (our, a6(C6)), a6(V6), None).expect("fits");
        assert_eq!(
            line(&buf[..n]),
            "IP6 2001:2:0:1::1 > ff02::1:ff00:110: ICMP6, neighbor solicitation, who has 2001:2:0:1::110, length 32"
        );
        let n = ndp::emit_advert(&mut buf, our, a6(V6), None, false).expect("fits");
        assert_eq!(
            line(&buf[..n]),
            "IP6 2001:2:0:1::110 > ff02::1: ICMP6, neighbor advertisement, tgt is 2001:2:0:1::110, length 32"
        );
        let ptb = [2, 0, 0, 0, 0, 0, 0x05, 0x78];
        assert_eq!(
            line(&ip6(V6, C6, (0, &[]), 58, &ptb)),
            "IP6 2001:2:0:1::110 > 2001:2:0:1::1: ICMP6, packet too big, mtu 1400, length 8"
        );
        let frag = ip6(C6, V6, (44, &[6, 0, 0, 0, 0, 0, 0, 1]), 6, &[0; 20]);
        assert_eq!(
            line(&frag),
            "IP6 2001:2:0:1::1 > 2001:2:0:1::110: frag, length 28"
        );
        assert_eq!(
            line(&ip6(C6, V6, (0, &[]), 50, &[0; 24])),
            "IP6 2001:2:0:1::1 > 2001:2:0:1::110: ip-proto-50 24"
        );
        // Cut by a snap length inside the TCP header.
        assert_eq!(
            line(&syn[..14 + 40 + 2]),
            "IP6 2001:2:0:1::1 > 2001:2:0:1::110: [|tcp]"
        );
        let v4 = tcp([198, 18, 0, 1], 40000, [198, 18, 0, 110], 80);
        assert_eq!(summarize(&v4).tcpdump6(), None);
    }

    #[test]
    fn bad_ipv6_expressions_are_errors_and_short_frames_are_safe() {
        for e in [
            "host 2001:2::zz",
            "net 2001:2::",
            "net 2001:2::/129",
            "net 2001:2::/x",
            "src net 198.18.0.1/64",
        ] {
            assert!(Filter::parse(e).is_err(), "{e}");
        }
        // Cut anywhere, a frame matches once it holds both ports, and before
        // that nothing panics.
        let p = Filter::parse("port 80 and net 2001:2::/48 and tcp").expect("valid");
        let f = ip6(
            C6,
            V6,
            (60, &[6, 0, 1, 4, 0, 0, 0, 0]),
            6,
            &l4_ports(true, 1, 80, 8),
        );
        let ports_end = 14 + 40 + 8 + 4;
        for len in 0..=f.len() {
            assert_eq!(p.matches(&f[..len]), len >= ports_end, "{len}");
            let _ = summarize(&f[..len]).tcpdump6();
        }
    }

    #[test]
    fn bad_expressions_are_errors_and_junk_never_matches_ports() {
        for e in [
            "tcp or udp",
            "port",
            "port x",
            "host 1.2.3",
            "net 1.2.3.0",
            "net 1.2.3.0/33",
            "and",
            "frobnicate",
        ] {
            assert!(Filter::parse(e).is_err(), "{e}");
        }
        let p = Filter::parse("port 80").unwrap();
        for len in 0..54 {
            let f = tcp([1, 2, 3, 4], 80, [5, 6, 7, 8], 80);
            let _ = p.matches(&f[..len]);
        }
        assert!(!p.matches(&tcp([1, 2, 3, 4], 80, [5, 6, 7, 8], 80)[..36]));
    }
}
