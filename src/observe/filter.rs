//! The capture/trace filter: a small subset of tcpdump's expressions.
//!
//! ```text
//! expr  := term { ("and" | "&&") term }
//! term  := ["not" | "!"] prim
//! prim  := "tcp" | "udp" | "icmp" | "arp" | "ip"
//!        | [src | dst] [host] ADDR            host 198.18.0.1, src 198.18.0.1
//!        | [src | dst] net ADDR/LEN            net 198.19.0.0/24
//!        | [src | dst] port N                  port 80, dst port 8080
//! ```
//!
//! An empty expression matches every frame. `host`/`net` match the IPv4 source or
//! destination (for ARP, the sender or target protocol address); `port` matches
//! TCP/UDP ports (never a fragment). Matching reads only the headers, allocates
//! nothing and never panics on short or malformed frames.

use crate::wire::ethernet::{EthernetFrame, ethertype};
use crate::wire::ipv4::{self, Ipv4Packet, protocol};
use crate::wire::{ArpPacket, TcpPacket, UdpPacket, arp, tcp};
use std::net::Ipv4Addr;

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
    Icmp,
    Arp,
    Ip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prim {
    Kind(Kind),
    Net { side: Side, addr: u32, mask: u32 },
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
            if ip.frag_offset() != 0 || (s.proto != protocol::TCP && s.proto != protocol::UDP) {
                return s;
            }
            let Some(l4) = payload.get(ip.header_len()..) else {
                return s;
            };
            // The ports are the first four bytes of TCP and UDP alike.
            if l4.len() >= 4 {
                let ports = UdpPacket::new_unchecked(l4);
                s.ports = Some((ports.src_port(), ports.dst_port()));
            }
            if s.proto == protocol::TCP && l4.len() > tcp::FLAGS_OFFSET {
                s.flags = TcpPacket::new_unchecked(l4).flags();
            }
        }
        _ => {}
    }
    s
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
                    w => return Err(format!("expected `and` before `{w}`")),
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
        match *self {
            Prim::Kind(Kind::Arp) => s.arp,
            Prim::Kind(Kind::Ip) => s.ip,
            Prim::Kind(Kind::Tcp) => s.ip && s.proto == 6,
            Prim::Kind(Kind::Udp) => s.ip && s.proto == 17,
            Prim::Kind(Kind::Icmp) => s.ip && s.proto == 1,
            Prim::Net {
                side: d,
                addr,
                mask,
            } => (s.ip || s.arp) && side(d, &|a| a & mask == addr, s.src, s.dst),
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
        "icmp" => Some(Kind::Icmp),
        "arp" => Some(Kind::Arp),
        "ip" => Some(Kind::Ip),
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
            let port = v.parse::<u16>().map_err(|_| format!("bad port `{v}`"))?;
            Ok((Prim::Port { side, port }, i + 2))
        }
        "net" => {
            let v = word(i + 1)?;
            let (a, len) = v
                .split_once('/')
                .ok_or_else(|| format!("`net` needs ADDR/LEN, not `{v}`"))?;
            let addr: Ipv4Addr = a.parse().map_err(|_| format!("bad address `{a}`"))?;
            let len: u32 = len
                .parse()
                .ok()
                .filter(|l| *l <= 32)
                .ok_or_else(|| format!("bad prefix length in `{v}`"))?;
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
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
            let addr: Ipv4Addr = v
                .parse()
                .map_err(|_| format!("unknown filter word `{v}`"))?;
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
