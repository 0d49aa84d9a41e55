//! Flows and frames: who the generated clients are, and the bytes they send.
//!
//! Every flow's headers are built once, up front, with valid IPv4 and UDP/TCP
//! checksums; sending a packet is then a copy of the flow's header, a copy of
//! the shared tail and (UDP) a stamp of sequence number and send time, with the
//! UDP checksum patched incrementally (RFC 1624).
//!
//! UDP payload layout (18 bytes fit a 60-byte frame, a "64-byte frame" on the
//! wire with the 4-byte FCS):
//!
//! | offset | bytes | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `RVG1` |
//! | 4 | 2 | run id (random per process) |
//! | 6 | 4 | sequence number (big-endian, wraps) |
//! | 10 | 8 | send time, ns since the generator's start (`CLOCK_MONOTONIC`) |
//!
//! The rest of a larger frame's payload is zeros.

use ringvs::wire::checksum::{self, Delta};
use ringvs::wire::ethernet::{self, ethertype};
use ringvs::wire::ipv4::{self, protocol};
use ringvs::wire::tcp::{self, flags};
use ringvs::wire::{EthernetFrame, Ipv4Packet, Mac, TcpPacket, UdpPacket, udp};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The benchmarking space (RFC 2544) every address must be in.
pub const BENCH_NET: Net = Net {
    base: 0xc612_0000, // 198.18.0.0
    len: 15,
};

/// Smallest frame without FCS (64 bytes on the wire with it).
pub const MIN_FRAME: usize = 60;
/// Ethernet + IPv4 + UDP headers.
pub const UDP_HDRS: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN;
/// Ethernet + IPv4 + TCP headers (no options).
pub const TCP_HDRS: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + tcp::HEADER_LEN;
/// First source port used; flows take ports upwards from here.
pub const PORT_BASE: u16 = 1024;
/// Client addresses never end in these (network, director, VIP, broadcast
/// of a /24 lab segment).
const SKIP_LAST_OCTET: [u8; 4] = [0, 2, 110, 255];
/// Largest `--flows`.
pub const MAX_FLOWS: usize = 1_000_000;

pub const MAGIC: [u8; 4] = *b"RVG1";
const OFF_MAGIC: usize = UDP_HDRS;
const OFF_RUN: usize = OFF_MAGIC + 4;
const OFF_SEQ: usize = OFF_RUN + 2;
const OFF_TS: usize = OFF_SEQ + 4;
/// Bytes of the stamped UDP payload.
pub const STAMP_LEN: usize = OFF_TS + 8 - UDP_HDRS;
const UDP_CSUM: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::CHECKSUM_OFFSET;
/// How much longer IPv6's header is than IPv4's: an IPv6 frame's UDP header
/// and stamp lie this many bytes later.
const V6_SHIFT: usize = IPV6_HEADER_LEN - ipv4::HEADER_LEN;
const IPV6_HEADER_LEN: usize = 40;
/// Ethernet + IPv6 + UDP headers.
pub const UDP6_HDRS: usize = UDP_HDRS + V6_SHIFT;
/// The smallest IPv6 UDP frame that carries the stamp: 80 bytes without FCS
/// (84 on the wire), IPv6's "64-byte frame" (the smallest the benchmark can
/// send: IPv6's header is 20 bytes longer).
pub const MIN_FRAME6: usize = UDP6_HDRS + STAMP_LEN;
/// IPv6 clients: 2001:2:0:1::1:k for k in 1..=this, as many addresses as an
/// IPv4 /24 gives (see [`Flows::new`]), so both families' flows spread alike.
pub const HOSTS6: u16 = 252;

/// Whether `a` lies in 2001:2::/48 (RFC 5180's benchmarking prefix).
pub fn in_bench_net6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    s[0] == 0x2001 && s[1] == 2 && s[2] == 0
}

/// An IPv4 network `base/len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub base: u32,
    pub len: u8,
}

impl Net {
    fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    pub fn contains(self, addr: Ipv4Addr) -> bool {
        addr.to_bits() & self.mask() == self.base
    }

    /// Whether all of `other` lies inside `self`.
    pub fn covers(self, other: Net) -> bool {
        other.len >= self.len && self.contains(Ipv4Addr::from_bits(other.base))
    }

    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from_bits(self.base), self.len)
    }
}

impl std::str::FromStr for Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // The same ADDRESS/LEN syntax as the director's --ext-addr.
        let p: ringvs::neigh::Prefix = s.parse()?;
        let net = Net {
            base: p.addr.to_bits(),
            len: p.len,
        };
        if net.base & net.mask() != net.base {
            return Err(format!(
                "{s}: host bits set (did you mean {}?)",
                Net {
                    base: net.base & net.mask(),
                    len: net.len
                }
            ));
        }
        Ok(net)
    }
}

/// Parse `aa:bb:cc:dd:ee:ff` (or with `-`) as a unicast MAC.
pub fn parse_mac(s: &str) -> Result<Mac, String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(format!(
            "{s}: expected a MAC address like 02:00:00:00:00:01"
        ));
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 2 {
            return Err(format!("{s}: bad MAC address byte {p:?}"));
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("{s}: bad MAC address byte {p:?}"))?;
    }
    let mac = Mac(mac);
    if mac.is_multicast() || mac == Mac::default() {
        return Err(format!(
            "{s}: destination MAC must be a unicast address (the director's ext NIC)"
        ));
    }
    Ok(mac)
}

/// The client (source address, source port) pairs, enumerated so that
/// consecutive flows differ in address first: flow `i` is address
/// `hosts[i % h]`, port `PORT_BASE + i / h`. One type for both families
/// (`A` the address), so the enumeration is written once; only where the
/// hosts come from differs ([`Flows::new`], [`Flows6::new`]).
#[derive(Clone, Debug)]
pub struct FlowSet<A> {
    hosts: Vec<A>,
    n: usize,
}

impl<A: Copy> FlowSet<A> {
    pub fn len(&self) -> usize {
        self.n
    }

    /// Flow `i` (`i < len()`).
    pub fn get(&self, i: usize) -> (A, u16) {
        let h = self.hosts.len();
        // `new` checked that n fits in h addresses times the ports (IPv6:
        // n <= MAX_FLOWS < 251 * 64512), so the port fits.
        (self.hosts[i % h], PORT_BASE + (i / h) as u16)
    }
}

/// IPv4 flows, from a `--src-net`.
pub type Flows = FlowSet<Ipv4Addr>;

impl Flows {
    /// `n` flows from `net`, skipping its network and broadcast addresses,
    /// every address ending in .0, .2 (director), .110 (VIP) or .255, and
    /// `avoid` (the destination).
    pub fn new(net: Net, n: usize, avoid: Ipv4Addr) -> Result<Self, String> {
        if n == 0 || n > MAX_FLOWS {
            return Err(format!("--flows {n}: must be 1..={MAX_FLOWS}"));
        }
        if !BENCH_NET.covers(net) {
            return Err(format!(
                "--src-net {net}: must lie inside {BENCH_NET} (RFC 2544 benchmarking space)"
            ));
        }
        let size = net.size();
        let mut hosts = Vec::new();
        for off in 0..size {
            if hosts.len() >= n {
                break;
            }
            let addr = Ipv4Addr::from_bits(net.base + off as u32);
            let last = addr.octets()[3];
            if off == 0 || (size > 2 && off == size - 1) || SKIP_LAST_OCTET.contains(&last) {
                continue;
            }
            if addr != avoid {
                hosts.push(addr);
            }
        }
        if hosts.is_empty() {
            return Err(format!("--src-net {net}: no usable client address"));
        }
        let ports = usize::from(u16::MAX - PORT_BASE) + 1;
        let cap = hosts.len() * ports;
        if n > cap {
            return Err(format!(
                "--flows {n}: {net} gives only {cap} distinct (address, port) pairs"
            ));
        }
        Ok(Self { hosts, n })
    }
}

/// IPv6 client (source address, source port) pairs, enumerated as
/// [`Flows`]: flow `i` is address 2001:2:0:1::1:(1 + i % h), port
/// `PORT_BASE + i / h`, h = [`HOSTS6`] (less `avoid`).
pub type Flows6 = FlowSet<Ipv6Addr>;

impl Flows6 {
    pub fn new(n: usize, avoid: Ipv6Addr) -> Result<Self, String> {
        if n == 0 || n > MAX_FLOWS {
            return Err(format!("--flows {n}: must be 1..={MAX_FLOWS}"));
        }
        let hosts: Vec<Ipv6Addr> = (1..=HOSTS6)
            .map(|k| Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 1, k))
            .filter(|a| *a != avoid)
            .take(n)
            .collect();
        Ok(Self { hosts, n })
    }
}

/// Link-level and destination settings shared by every flow.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
}

/// [`Endpoints`] of IPv6 flows.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints6 {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub dst: Ipv6Addr,
    pub dst_port: u16,
}

/// All flows' prebuilt frames: `hdr_len` bytes per flow, then a shared tail.
pub struct FrameSet {
    hdr_len: usize,
    hdrs: Vec<u8>,
    tail: Vec<u8>,
    n: usize,
    /// 0 for IPv4 frames, [`V6_SHIFT`] for IPv6 ones (where the stamp lies).
    shift: usize,
}

impl FrameSet {
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn frame_len(&self) -> usize {
        self.hdr_len + self.tail.len()
    }

    /// Write flow `i`'s frame into `buf` (at least `frame_len()` bytes).
    #[inline]
    pub fn write(&self, i: usize, buf: &mut [u8]) {
        let h = self.hdr_len;
        buf[..h].copy_from_slice(&self.hdrs[i * h..(i + 1) * h]);
        buf[h..h + self.tail.len()].copy_from_slice(&self.tail);
    }

    /// UDP frames of `size` bytes (without FCS), one per flow, stamped with
    /// `run` and zero sequence number and time.
    pub fn udp(flows: &Flows, ep: Endpoints, size: usize, run: u16) -> Result<Self, String> {
        if size < MIN_FRAME {
            return Err(format!("--size {size}: the smallest frame is {MIN_FRAME}"));
        }
        let ip_len =
            u16::try_from(size - ethernet::HEADER_LEN).map_err(|_| format!("--size {size}"))?;
        let udp_len = ip_len - ipv4::HEADER_LEN as u16;
        let mut tail = vec![0u8; size - UDP_HDRS];
        tail[..4].copy_from_slice(&MAGIC);
        tail[4..6].copy_from_slice(&run.to_be_bytes());
        let tail_sum = checksum::sum(&tail);
        let mut hdrs = vec![0u8; flows.len() * UDP_HDRS];
        for (i, hdr) in hdrs.chunks_exact_mut(UDP_HDRS).enumerate() {
            let (src, sport) = flows.get(i);
            write_l2_l3(hdr, ep, src, ip_len, protocol::UDP)?;
            let mut u = UdpPacket::new_unchecked(&mut hdr[UDP_HDRS - udp::HEADER_LEN..]);
            u.set_src_port(sport);
            u.set_dst_port(ep.dst_port);
            u.set_len(udp_len);
            u.set_checksum(0);
            let s = checksum::combine(
                checksum::combine(
                    checksum::pseudo_header_v4(src, ep.dst, protocol::UDP, udp_len),
                    checksum::sum(&hdr[UDP_HDRS - udp::HEADER_LEN..]),
                ),
                tail_sum,
            );
            let c = match !checksum::fold(s) {
                0 => 0xffff,
                c => c,
            };
            hdr[UDP_CSUM..UDP_CSUM + 2].copy_from_slice(&c.to_be_bytes());
        }
        Ok(Self {
            hdr_len: UDP_HDRS,
            hdrs,
            tail,
            n: flows.len(),
            shift: 0,
        })
    }

    /// The IPv6 twin of [`FrameSet::udp`]: frames of `size` bytes (at least
    /// [`MIN_FRAME6`]), hop limit 64, flow label 0, UDP checksum complete (it
    /// is mandatory over IPv6).
    pub fn udp6(flows: &Flows6, ep: Endpoints6, size: usize, run: u16) -> Result<Self, String> {
        if size < MIN_FRAME6 {
            return Err(format!(
                "--size {size}: the smallest IPv6 frame is {MIN_FRAME6}"
            ));
        }
        let udp_len = u16::try_from(size - UDP6_HDRS + udp::HEADER_LEN)
            .map_err(|_| format!("--size {size}"))?;
        let mut tail = vec![0u8; size - UDP6_HDRS];
        tail[..4].copy_from_slice(&MAGIC);
        tail[4..6].copy_from_slice(&run.to_be_bytes());
        let tail_sum = checksum::sum(&tail);
        let mut hdrs = vec![0u8; flows.len() * UDP6_HDRS];
        for (i, hdr) in hdrs.chunks_exact_mut(UDP6_HDRS).enumerate() {
            let (src, sport) = flows.get(i);
            hdr[0..6].copy_from_slice(&ep.dst_mac.0);
            hdr[6..12].copy_from_slice(&ep.src_mac.0);
            hdr[12..14].copy_from_slice(&ethertype::IPV6.to_be_bytes());
            let ip = &mut hdr[14..14 + IPV6_HEADER_LEN];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
            ip[6] = protocol::UDP;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&src.octets());
            ip[24..40].copy_from_slice(&ep.dst.octets());
            let mut u = UdpPacket::new_unchecked(&mut hdr[UDP6_HDRS - udp::HEADER_LEN..]);
            u.set_src_port(sport);
            u.set_dst_port(ep.dst_port);
            u.set_len(udp_len);
            u.set_checksum(0);
            let s = checksum::combine(
                checksum::combine(
                    checksum::pseudo_header_v6(src, ep.dst, protocol::UDP, u32::from(udp_len)),
                    checksum::sum(&hdr[UDP6_HDRS - udp::HEADER_LEN..]),
                ),
                tail_sum,
            );
            let c = match !checksum::fold(s) {
                0 => 0xffff,
                c => c,
            };
            let at = UDP_CSUM + V6_SHIFT;
            hdr[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        Ok(Self {
            hdr_len: UDP6_HDRS,
            hdrs,
            tail,
            n: flows.len(),
            shift: V6_SHIFT,
        })
    }

    /// Stamp a UDP frame written by [`FrameSet::write`] with `seq` and
    /// `ts_ns`, patching its UDP checksum (the template holds zeros in both
    /// fields).
    #[inline]
    pub fn stamp(&self, frame: &mut [u8], seq: u32, ts_ns: u64) {
        stamp_at(frame, self.shift, seq, ts_ns);
    }

    /// TCP SYN frames (60 bytes: 54 of headers, padded), one per flow. The
    /// initial sequence number carries `run` in its upper 16 bits.
    pub fn syn(flows: &Flows, ep: Endpoints, run: u16) -> Result<Self, String> {
        let ip_len = (ipv4::HEADER_LEN + tcp::HEADER_LEN) as u16;
        let mut hdrs = vec![0u8; flows.len() * TCP_HDRS];
        for (i, hdr) in hdrs.chunks_exact_mut(TCP_HDRS).enumerate() {
            let (src, sport) = flows.get(i);
            write_l2_l3(hdr, ep, src, ip_len, protocol::TCP)?;
            let mut t = TcpPacket::new_unchecked(&mut hdr[TCP_HDRS - tcp::HEADER_LEN..]);
            t.set_src_port(sport);
            t.set_dst_port(ep.dst_port);
            t.set_seq_number(syn_isn(run, i));
            t.set_ack_number(0);
            t.set_header_len(tcp::HEADER_LEN);
            t.set_flags(flags::SYN);
            t.set_window(64240);
            t.set_urgent_ptr(0);
            t.fill_checksum(src, ep.dst);
        }
        Ok(Self {
            hdr_len: TCP_HDRS,
            hdrs,
            tail: vec![0u8; MIN_FRAME - TCP_HDRS],
            n: flows.len(),
            shift: 0,
        })
    }
}

/// The ISN of flow `i`'s SYN: run id above, flow index below.
pub fn syn_isn(run: u16, i: usize) -> u32 {
    (u32::from(run) << 16) | (i as u32 & 0xffff)
}

fn write_l2_l3(
    hdr: &mut [u8],
    ep: Endpoints,
    src: Ipv4Addr,
    ip_len: u16,
    proto: u8,
) -> Result<(), String> {
    let mut eth = EthernetFrame::new_checked(&mut *hdr).map_err(|e| e.to_string())?;
    eth.set_dst(ep.dst_mac);
    eth.set_src(ep.src_mac);
    eth.set_ethertype(ethertype::IPV4);
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip.set_version(4);
    ip.set_header_len(ipv4::HEADER_LEN);
    ip.set_dscp_ecn(0);
    ip.set_total_len(ip_len);
    ip.set_ident(0);
    ip.set_fragmentation(true, false, 0);
    ip.set_ttl(64);
    ip.set_protocol(proto);
    ip.set_src(src);
    ip.set_dst(ep.dst);
    ip.fill_checksum();
    Ok(())
}

/// Make a SYN written by [`FrameSet::write`] one that [`is_our_syn`] does not
/// count (the ISN's run bits flipped, checksum patched): a harmless extra
/// frame to kick the TX ring with.
pub fn untag_syn(frame: &mut [u8]) {
    let off = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
    let mut t = TcpPacket::new_unchecked(&mut frame[off..]);
    let old = t.seq_number();
    let new = old ^ 0xffff_0000;
    t.set_seq_number(new);
    let c = Delta::new().add32(old, new).apply(t.checksum());
    t.set_checksum(c);
}

/// [`FrameSet::stamp`] of a frame whose UDP header lies `shift` bytes later
/// than IPv4's.
#[inline]
fn stamp_at(frame: &mut [u8], shift: usize, seq: u32, ts_ns: u64) {
    let (s, t, c) = (OFF_SEQ + shift, OFF_TS + shift, UDP_CSUM + shift);
    frame[s..s + 4].copy_from_slice(&seq.to_be_bytes());
    frame[t..t + 8].copy_from_slice(&ts_ns.to_be_bytes());
    let d = Delta::new()
        .add32(0, seq)
        .add32(0, (ts_ns >> 32) as u32)
        .add32(0, ts_ns as u32);
    let old = u16::from_be_bytes([frame[c], frame[c + 1]]);
    frame[c..c + 2].copy_from_slice(&d.apply_udp(old).to_be_bytes());
}

/// A generator frame seen by the sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u32,
    pub ts_ns: u64,
}

/// The stamp of a received UDP frame (IPv4, or IPv6 without extension
/// headers) of run `run`, if it is one.
#[inline]
pub fn parse_udp(frame: &[u8], run: u16) -> Option<Stamp> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let l4 = match eth.ethertype() {
        ethertype::IPV4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
            if ip.protocol() != protocol::UDP || ip.is_fragment() {
                return None;
            }
            let (h, t) = (ip.header_len(), usize::from(ip.total_len()));
            eth.payload().get(h..t)?
        }
        ethertype::IPV6 => {
            let ip = eth.payload();
            if ip.len() < IPV6_HEADER_LEN || ip[0] >> 4 != 6 || ip[6] != protocol::UDP {
                return None;
            }
            let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            ip.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + len)?
        }
        _ => return None,
    };
    let u = UdpPacket::new_checked(l4).ok()?;
    let p = u.payload().get(..STAMP_LEN)?;
    if p[..4] != MAGIC || p[4..6] != run.to_be_bytes() {
        return None;
    }
    let mut seq = [0u8; 4];
    seq.copy_from_slice(&p[6..10]);
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&p[10..18]);
    Some(Stamp {
        seq: u32::from_be_bytes(seq),
        ts_ns: u64::from_be_bytes(ts),
    })
}

/// Whether a received frame is a SYN of run `run` from a client in `net`
/// (as the director forwards it: destination rewritten, source kept).
#[inline]
pub fn is_our_syn(frame: &[u8], net: Net, run: u16) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    if eth.ethertype() != ethertype::IPV4 {
        return false;
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return false;
    };
    if ip.protocol() != protocol::TCP || !net.contains(ip.src()) {
        return false;
    }
    let Ok(t) = TcpPacket::new_checked(ip.payload()) else {
        return false;
    };
    t.flags() & (flags::SYN | flags::ACK) == flags::SYN && t.seq_number() >> 16 == u32::from(run)
}

#[cfg(test)]
mod test {
    use super::*;
    use smoltcp::wire::{
        EthernetFrame as SEth, IpAddress, Ipv4Packet as SIpv4, TcpPacket as STcp, UdpPacket as SUdp,
    };
    use std::collections::HashSet;

    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);

    fn ep() -> Endpoints {
        Endpoints {
            src_mac: Mac([0x02, 0, 0, 0, 0, 1]),
            dst_mac: Mac([0x02, 0, 0, 0, 0, 2]),
            dst: DST,
            dst_port: 5001,
        }
    }

    fn net(s: &str) -> Net {
        s.parse().unwrap()
    }

    /// Checks with smoltcp (an independent implementation) that a UDP frame
    /// has valid IPv4 and UDP checksums, and returns its (src, sport, payload len).
    fn smol_udp(frame: &[u8]) -> (Ipv4Addr, u16, usize) {
        let eth = SEth::new_checked(frame).unwrap();
        let ip = SIpv4::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.total_len() as usize, frame.len() - 14);
        let u = SUdp::new_checked(ip.payload()).unwrap();
        let (s, d) = (ip.src_addr(), ip.dst_addr());
        assert_ne!(u.checksum(), 0);
        assert!(u.verify_checksum(&IpAddress::Ipv4(s), &IpAddress::Ipv4(d)));
        assert_eq!(d, DST);
        (s, u.src_port(), u.payload().len())
    }

    #[test]
    fn udp_frames_are_valid_before_and_after_stamping() {
        let flows = Flows::new(net("198.18.0.0/24"), 600, DST).unwrap();
        for size in [60, 61, 64, 128, 1514] {
            let set = FrameSet::udp(&flows, ep(), size, 0xbeef).unwrap();
            assert_eq!(set.frame_len(), size);
            let mut buf = vec![0u8; 2048];
            for (i, seq, ts) in [
                (0, 0, 0),
                (1, 1, 1),
                (599, u32::MAX, u64::MAX),
                (300, 0x1234_5678, 0x0000_00ff_ffff_0000),
                (17, 0xffff_0000, 120_000_000_000),
            ] {
                set.write(i, &mut buf);
                let f = &mut buf[..size];
                let (src, sport, plen) = smol_udp(f);
                assert_eq!((src, sport), flows.get(i));
                assert_eq!(plen, size - UDP_HDRS);
                set.stamp(f, seq, ts);
                smol_udp(f);
                assert!(
                    UdpPacket::new_checked(&f[34..])
                        .unwrap()
                        .verify_checksum(src, DST)
                );
                assert_eq!(parse_udp(f, 0xbeef), Some(Stamp { seq, ts_ns: ts }));
                assert_eq!(parse_udp(f, 0xbeee), None);
            }
        }
    }

    #[test]
    fn udp6_frames_are_valid_before_and_after_stamping() {
        use smoltcp::wire::Ipv6Packet as SIpv6;
        let dst = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
        let flows = Flows6::new(600, dst).unwrap();
        let ep = Endpoints6 {
            src_mac: Mac([0x02, 0, 0, 0, 0, 1]),
            dst_mac: Mac([0x02, 0, 0, 0, 0, 2]),
            dst,
            dst_port: 9000,
        };
        assert!(FrameSet::udp6(&flows, ep, MIN_FRAME6 - 1, 1).is_err());
        for size in [MIN_FRAME6, 81, 1514] {
            let set = FrameSet::udp6(&flows, ep, size, 0xbeef).unwrap();
            assert_eq!(set.frame_len(), size);
            let mut buf = vec![0u8; 2048];
            for (i, seq, ts) in [(0, 0, 0), (599, u32::MAX, u64::MAX), (252, 7, 1 << 40)] {
                set.write(i, &mut buf);
                let f = &mut buf[..size];
                set.stamp(f, seq, ts);
                let eth = SEth::new_checked(&f[..]).unwrap();
                assert_eq!(u16::from(eth.ethertype()), 0x86dd);
                let ip = SIpv6::new_checked(eth.payload()).unwrap();
                assert_eq!(usize::from(ip.payload_len()), size - 54);
                assert_eq!(ip.hop_limit(), 64);
                let (s, d) = (ip.src_addr(), ip.dst_addr());
                assert_eq!((s, d), (flows.get(i).0, dst));
                let u = SUdp::new_checked(ip.payload()).unwrap();
                assert_eq!(u.src_port(), flows.get(i).1);
                assert_ne!(u.checksum(), 0);
                assert!(u.verify_checksum(&IpAddress::Ipv6(s), &IpAddress::Ipv6(d)));
                assert_eq!(parse_udp(f, 0xbeef), Some(Stamp { seq, ts_ns: ts }));
                assert_eq!(parse_udp(f, 0xbeee), None);
            }
        }
        // As many client addresses as an IPv4 /24 gives, the destination skipped.
        let hosts: HashSet<_> = (0..flows.len()).map(|i| flows.get(i).0).collect();
        assert_eq!(hosts.len(), 252);
        assert!(hosts.iter().all(|h| in_bench_net6(*h) && *h != dst));
        assert!(Flows6::new(0, dst).is_err());
    }

    #[test]
    fn stamp_matches_a_full_recompute_over_many_values() {
        let flows = Flows::new(net("198.18.0.0/24"), 4, DST).unwrap();
        let set = FrameSet::udp(&flows, ep(), 60, 7).unwrap();
        let mut buf = [0u8; 60];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            set.write((x % 4) as usize, &mut buf);
            set.stamp(&mut buf, (x >> 7) as u32, x);
            let (src, _, _) = smol_udp(&buf);
            let mut copy = buf;
            let mut u = UdpPacket::new_unchecked(&mut copy[34..]);
            u.fill_checksum(src, DST);
            let full = u.checksum();
            assert_eq!(&copy[..], &buf[..]);
            assert_ne!(full, 0);
        }
    }

    #[test]
    fn syn_frames_are_valid_and_recognised() {
        let n = net("198.18.0.0/24");
        let flows = Flows::new(n, 1000, DST).unwrap();
        let set = FrameSet::syn(&flows, ep(), 42).unwrap();
        assert_eq!(set.frame_len(), 60);
        let mut buf = [0u8; 60];
        for i in [0, 1, 251, 252, 999] {
            set.write(i, &mut buf);
            let eth = SEth::new_checked(&buf[..]).unwrap();
            let ip = SIpv4::new_checked(eth.payload()).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(ip.total_len(), 40);
            let t = STcp::new_checked(ip.payload()).unwrap();
            let (s, d) = (ip.src_addr(), ip.dst_addr());
            assert!(t.verify_checksum(&IpAddress::Ipv4(s), &IpAddress::Ipv4(d)));
            assert!(t.syn() && !t.ack());
            assert_eq!((s, t.src_port()), flows.get(i));
            assert_eq!(t.dst_port(), 5001);
            assert!(is_our_syn(&buf, n, 42));
            assert!(!is_our_syn(&buf, n, 43));
            assert!(!is_our_syn(&buf, net("198.18.1.0/24"), 42));
            assert_eq!(parse_udp(&buf, 42), None);
            untag_syn(&mut buf);
            assert!(!is_our_syn(&buf, n, 42));
            let ip = SIpv4::new_checked(&buf[14..]).unwrap();
            let t = STcp::new_checked(ip.payload()).unwrap();
            let (s, d) = (ip.src_addr(), ip.dst_addr());
            assert!(t.verify_checksum(&IpAddress::Ipv4(s), &IpAddress::Ipv4(d)));
        }
    }

    #[test]
    fn flows_are_distinct_up_to_a_million_and_skip_reserved_hosts() {
        let flows = Flows::new(net("198.18.0.0/24"), MAX_FLOWS, DST).unwrap();
        let mut seen = HashSet::with_capacity(MAX_FLOWS);
        let mut hosts = HashSet::new();
        for i in 0..flows.len() {
            let (a, p) = flows.get(i);
            assert!(seen.insert((a, p)), "flow {i} repeats {a}:{p}");
            assert!(p >= PORT_BASE);
            hosts.insert(a);
        }
        assert_eq!(seen.len(), MAX_FLOWS);
        // 256 - network - .2 - .110 - broadcast
        assert_eq!(hosts.len(), 252);
        for h in [0, 2, 110, 255] {
            assert!(!hosts.contains(&Ipv4Addr::new(198, 18, 0, h)));
        }
        // consecutive flows differ in address first
        assert_ne!(flows.get(0).0, flows.get(1).0);
        assert_eq!(flows.get(0).1, flows.get(1).1);
    }

    #[test]
    fn flow_limits_and_nets() {
        assert!(Flows::new(net("198.18.0.0/24"), 0, DST).is_err());
        assert!(Flows::new(net("198.18.0.0/24"), MAX_FLOWS + 1, DST).is_err());
        assert!(Flows::new(net("10.0.0.0/24"), 1, DST).is_err());
        assert!(Flows::new(net("198.16.0.0/14"), 1, DST).is_err());
        assert!(Flows::new(net("198.19.255.0/24"), 1, DST).is_ok());
        // a /30 at .4 has hosts .5 and .6: 2 * 64512 pairs
        assert!(Flows::new(net("198.18.0.4/30"), 2 * 64_512, DST).is_ok());
        assert!(Flows::new(net("198.18.0.4/30"), 2 * 64_512 + 1, DST).is_err());
        // .108/30: .109 is the destination, .110 the VIP, .111 broadcast
        let avoid = Ipv4Addr::new(198, 18, 0, 109);
        assert!(Flows::new(net("198.18.0.108/30"), 1, avoid).is_err());
        // the destination and .110 are never sources
        let f = Flows::new(net("198.18.0.104/29"), 4 * 64_512, avoid).unwrap();
        let hosts: HashSet<_> = (0..f.len()).map(|i| f.get(i).0).collect();
        assert_eq!(hosts.len(), 4);
        assert!(!hosts.contains(&avoid) && !hosts.contains(&DST));
        // a /16 skips .0, .2, .110 and .255 in every /24
        let f = Flows::new(net("198.19.0.0/16"), MAX_FLOWS, DST).unwrap();
        assert!((0..f.len()).all(|i| ![0, 2, 110, 255].contains(&f.get(i).0.octets()[3])));
        assert!("198.18.0.1/24".parse::<Net>().is_err());
        assert!("198.18.0.0".parse::<Net>().is_err());
        assert!("198.18.0.0/33".parse::<Net>().is_err());
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("02:aB:00:0c:0d:ff").unwrap(),
            Mac([2, 0xab, 0, 0xc, 0xd, 0xff])
        );
        assert_eq!(parse_mac("2-0-0-0-0-1").unwrap(), Mac([2, 0, 0, 0, 0, 1]));
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:01",
            "02:00:00:00:00:xx",
            "02:00:00:00:00:123",
            "ff:ff:ff:ff:ff:ff",
            "01:00:5e:00:00:01",
            "00:00:00:00:00:00",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }
}
