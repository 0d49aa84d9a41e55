//! One worker on the in-memory backend, fed hostile bytes as frames on both NICs,
//! with a check that every frame has exactly one outcome: forwarded or answered
//! (a frame sent), parked for ARP, handed off, passed to the neighbor table as an
//! ARP reply, or counted under one `drop_*` reason; and that every frame it
//! sends keeps the rules of [`tx_check`] (its source MAC, IPv4 and IPv6
//! header lengths and checksum, L4 checksums, TTL).
//!
//! The director is dual-stack (IPv6 addresses on both NICs, an IPv6 TCP and UDP
//! service next to the IPv4 ones, an established IPv6 connection), so fuzzed
//! frames reach every IPv6 path too: NDP, ICMPv6 echo and errors, extension
//! headers, NAT over IPv6.
//!
//! Shared by the cargo-fuzz target (`fuzz/fuzz_targets/worker.rs`) and the
//! bounded property test run in CI (`tests/hostile.rs`). Addresses are RFC 2544
//! benchmarking space; nothing leaves the process.

#![allow(dead_code)]

/// The IPv6 frame builders of the namespace tests (byte by byte); a test that
/// also has `tests/inmem` loads them twice, harmlessly.
#[allow(clippy::duplicate_mod)]
#[path = "../tests/ipv6/frames.rs"]
pub mod frames6;

/// The rules every transmitted frame keeps, checked per frame in
/// [`Harness::one_with`].
#[path = "tx_check.rs"]
pub mod tx_check;

use frames6::{Ext, L3};

use crossbeam_channel::Receiver;
use ringvs::config::Config;
use ringvs::config::ipvsadm::{apply, parse};
use ringvs::dataplane::{Director, Env, Plan, Shared, Worker};
use ringvs::io::RxMeta;
use ringvs::io::mem::{MemRx, MemTx};
use ringvs::nat::{Snapshot, Timeouts};
use ringvs::neigh::{NeighEvent, NeighTable};
use ringvs::stats::{Counters, Ctr};
use ringvs::wire::Mac;
use ringvs::wire::checksum::{combine, fold, pseudo_header_v4, sum};
use ringvs::{Nic, NicPair};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const EXT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);
pub const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub const RS1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
pub const DIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1);
pub const RS1_6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 2);
pub const EXT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 0x02];
pub const INT_MAC: [u8; 6] = [0x02, 0x11, 0, 0, 0, 0x01];
pub const CLIENT_MAC: [u8; 6] = [0x02, 0xcc, 0, 0, 0, 0x01];
pub const RS1_MAC: [u8; 6] = [0x02, 0x55, 0, 0, 0, 0x02];
pub const RS2: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 3);
pub const RS2_MAC: [u8; 6] = [0x02, 0x55, 0, 0, 0, 0x03];
/// A router on the real servers' side.
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);

/// The GUE tunnel's destination port in [`DIRECT_RULES`].
pub const GUE_PORT: u16 = 6080;

/// The services [`Harness::direct`] adds: TUN (GUE) and DR.
const DIRECT_RULES: [&str; 4] = [
    "-A -t 198.18.0.110:8080 -s rr",
    "-a -t 198.18.0.110:8080 -r 198.19.0.3:8080 -i --tun-type gue --tun-port 6080",
    "-A -t 198.18.0.110:8081 -s rr",
    "-a -t 198.18.0.110:8081 -r 198.19.0.2:8081 -g",
];

pub const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// An Ethernet frame carrying IPv4 `l4` of `proto` with valid checksums.
pub fn ip_frame(
    macs: ([u8; 6], [u8; 6]),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    mut l4: Vec<u8>,
) -> Vec<u8> {
    if proto == 132 {
        ringvs::wire::SctpPacket::new_unchecked(&mut l4[..]).fill_checksum();
    }
    let csum_at = match proto {
        6 => Some(16),
        17 => Some(6),
        1 => Some(2),
        _ => None,
    };
    if let Some(at) = csum_at {
        l4[at] = 0;
        l4[at + 1] = 0;
        let pseudo = if proto == 1 {
            0
        } else {
            pseudo_header_v4(src, dst, proto, l4.len() as u16)
        };
        let c = !fold(combine(pseudo, sum(&l4)));
        let c = if proto == 17 && c == 0 { 0xffff } else { c };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = !fold(sum(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::with_capacity(14 + ip.len() + l4.len());
    f.extend_from_slice(&macs.1);
    f.extend_from_slice(&macs.0);
    f.extend_from_slice(&[8, 0]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

pub fn tcp(
    macs: ([u8; 6], [u8; 6]),
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    flags: u8,
    data: &[u8],
) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4[4..8].copy_from_slice(&1u32.to_be_bytes());
    l4[12] = 5 << 4;
    l4[13] = flags;
    l4[14..16].copy_from_slice(&8192u16.to_be_bytes());
    l4.extend_from_slice(data);
    ip_frame(macs, src, dst, 6, l4)
}

pub fn udp(
    macs: ([u8; 6], [u8; 6]),
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    data: &[u8],
) -> Vec<u8> {
    let mut l4 = vec![0u8; 8];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    l4.extend_from_slice(data);
    ip_frame(macs, src, dst, 17, l4)
}

pub fn arp(
    op: u8,
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
    dst: [u8; 6],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&[8, 6, 0, 1, 8, 0, 6, 4, 0, op]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

/// Valid frames to mutate, with the NIC each arrives on.
pub fn templates() -> Vec<(Nic, Vec<u8>)> {
    let c = (CLIENT_MAC, EXT_MAC);
    let r = (RS1_MAC, INT_MAC);
    let mut echo = vec![8u8, 0, 0, 0, 0, 1, 0, 1];
    echo.extend_from_slice(b"ping");
    let quoted = tcp((EXT_MAC, CLIENT_MAC), (VIP, 80), (CLIENT, 40000), ACK, b"");
    let mut unreach = vec![3u8, 4, 0, 0, 0, 0, 5, 0x78];
    unreach.extend_from_slice(&quoted[14..14 + 28]);
    let mut echo_reply = echo.clone();
    echo_reply[0] = 0;
    let check = udp((INT_MAC, RS1_MAC), (DIP, 61000), (RS1, 54), b"");
    let mut check_unreach = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
    check_unreach.extend_from_slice(&check[14..]);
    vec![
        (Nic::Ext, tcp(c, (CLIENT, 40001), (VIP, 80), SYN, b"")),
        (
            Nic::Ext,
            tcp(c, (CLIENT, 40000), (VIP, 80), ACK | PSH, b"data"),
        ),
        (
            Nic::Int,
            tcp(r, (RS1, 80), (CLIENT, 40000), ACK | PSH, b"reply"),
        ),
        (Nic::Ext, udp(c, (CLIENT, 5000), (VIP, 53), b"query")),
        (Nic::Int, udp(r, (RS1, 53), (CLIENT, 5000), b"answer")),
        (Nic::Ext, udp(c, (CLIENT, 5001), (VIP, 5300), b"ops")),
        (Nic::Int, udp(r, (RS1, 5300), (CLIENT, 5001), b"ops answer")),
        (
            Nic::Ext,
            udp(
                c,
                (CLIENT, 5060),
                (VIP, 5060),
                b"BYE sip:x SIP/2.0\r\nCall-ID: a84b4c76e66710@pc33\r\ni: x\r\n\r\n",
            ),
        ),
        (
            Nic::Int,
            udp(
                r,
                (RS1, 5070),
                (CLIENT, 5070),
                b"BYE sip:c SIP/2.0\r\nCall-ID: callee-hangup@rs1\r\n\r\n",
            ),
        ),
        (
            Nic::Int,
            udp(
                r,
                (RS1, 5060),
                (CLIENT, 5060),
                b"SIP/2.0 200 OK\r\nCall-ID: a84b4c76e66710@pc33\r\n\r\n",
            ),
        ),
        (Nic::Ext, ip_frame(c, CLIENT, VIP, 1, echo.clone())),
        (Nic::Int, ip_frame(r, RS1, DIP, 1, echo)),
        // Answers to the health checks: a check's UDP answer, an echo reply
        // (PING_CHECK) and a port unreachable about a check's datagram.
        (Nic::Int, udp(r, (RS1, 53), (DIP, 61000), b"rs1 2")),
        (Nic::Int, ip_frame(r, RS1, DIP, 1, echo_reply)),
        (Nic::Int, ip_frame(r, RS1, DIP, 1, check_unreach)),
        (Nic::Ext, ip_frame(c, CLIENT, VIP, 1, unreach)),
        (Nic::Ext, arp(1, CLIENT_MAC, CLIENT, [0; 6], VIP, [0xff; 6])),
        (Nic::Int, arp(2, RS1_MAC, RS1, INT_MAC, DIP, INT_MAC)),
    ]
    .into_iter()
    .chain(templates6())
    .chain(fragments(c, r))
    .chain(templates_ftp(c, r))
    .chain(templates_sctp(c, r))
    .collect()
}

/// An SCTP association to the SCTP service (VIP:5000 → RS1:5001), in the
/// order that takes each through: the client's INIT, the server's INIT
/// ACK, the client's DATA, and a COOKIE ECHO with an ABORT bundled.
fn templates_sctp(c: ([u8; 6], [u8; 6]), r: ([u8; 6], [u8; 6])) -> Vec<(Nic, Vec<u8>)> {
    // `ip_frame` fills the CRC32c.
    let packet = frames6::sctp_unfilled;
    let init = [
        0x9e, 0x8d, 0x52, 0x25, 0, 0, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 1,
    ];
    let data = [0, 0, 0, 1, 0, 0, 0, 0, 0x68, 0x69, 0, 0];
    vec![
        (
            Nic::Ext,
            ip_frame(c, CLIENT, VIP, 132, packet(41000, 5000, 0, &[(1, &init)])),
        ),
        (
            Nic::Int,
            ip_frame(r, RS1, CLIENT, 132, packet(5001, 41000, 9, &[(2, &init)])),
        ),
        (
            Nic::Ext,
            ip_frame(c, CLIENT, VIP, 132, packet(41000, 5000, 7, &[(0, &data)])),
        ),
        (
            Nic::Ext,
            ip_frame(
                c,
                CLIENT,
                VIP,
                132,
                packet(41000, 5000, 7, &[(10, &[1; 8]), (6, &[])]),
            ),
        ),
    ]
}

/// The FTP helper's words on the established TCP connection (the harness
/// runs the helper on port 80, so CLIENT:40000 ↔ RS1:80 is a control
/// connection): the client's commands, the server's passive replies, and
/// the first packets of the data connections they make expected.
fn templates_ftp(c: ([u8; 6], [u8; 6]), r: ([u8; 6], [u8; 6])) -> Vec<(Nic, Vec<u8>)> {
    let from_client = |text: &[u8]| tcp(c, (CLIENT, 40000), (VIP, 80), ACK | PSH, text);
    // Each reply at its own place in the server's stream (a copy of an
    // earlier reply is not read as the next one).
    let from_rs = |seq: u32, text: &[u8]| {
        let mut f = tcp(r, (RS1, 80), (CLIENT, 40000), ACK | PSH, text);
        f[38..42].copy_from_slice(&seq.to_be_bytes());
        fix_checksums(&mut f);
        f
    };
    // In an order in which each gets through: a command, then the data
    // connection (or the reply) it makes expected.
    let data_syn = |port| tcp(c, (CLIENT, 45000), (VIP, port), SYN, b"");
    let server_syn = |port| tcp(r, (RS1, 79), (CLIENT, port), SYN, b"");
    vec![
        (Nic::Ext, from_client(b"PORT 198,18,0,1,156,128\r\n")),
        (Nic::Int, server_syn(40064)),
        (Nic::Ext, from_client(b"EPRT |1|198.18.0.1|40065|\r\n")),
        (Nic::Int, server_syn(40065)),
        (Nic::Ext, from_client(b"PASV\r\n")),
        (
            Nic::Int,
            from_rs(1000, b"227 Entering Passive Mode (198,19,0,2,117,48).\r\n"),
        ),
        (Nic::Ext, data_syn(30000)),
        (Nic::Ext, from_client(b"EPSV\r\n")),
        (
            Nic::Int,
            from_rs(2000, b"229 Entering Extended Passive Mode (|||30001|)\r\n"),
        ),
        (Nic::Ext, data_syn(30001)),
        // The first fragment of a command (the helper lets fragments by).
        (
            Nic::Ext,
            fragment(
                from_client(b"PASV\r\nNOOP\r\n")[..34 + 24].to_vec(),
                0,
                true,
            ),
        ),
    ]
}

/// `f` as the fragment at `offset` bytes of its datagram, `more` to follow,
/// DF clear, its IP length and header checksum made good.
pub fn fragment(mut f: Vec<u8>, offset: usize, more: bool) -> Vec<u8> {
    let flags = (u16::from(more) << 13) | (offset / 8) as u16;
    f[20..22].copy_from_slice(&flags.to_be_bytes());
    f[18..20].copy_from_slice(&0x2345u16.to_be_bytes());
    let len = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&len.to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = !fold(sum(&f[14..34]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

/// Fragments (`frag.rs`), in an order that gets each through: a client's
/// UDP datagram to VIP:53 in two (the first with the UDP header and 16 bytes,
/// then 8 bytes at offset 24), the real server's answer in two, and an echo
/// request to the VIP in two.
fn fragments(c: ([u8; 6], [u8; 6]), r: ([u8; 6], [u8; 6])) -> Vec<(Nic, Vec<u8>)> {
    let query = udp(c, (CLIENT, 5000), (VIP, 53), b"a longer query, in two");
    let answer = udp(r, (RS1, 53), (CLIENT, 5000), b"a longer answer, in two");
    let cut = |f: &[u8], at: usize| (f[..34 + at].to_vec(), [&f[..34], &f[34 + at..]].concat());
    let (q0, q1) = cut(&query, 24);
    let (a0, a1) = cut(&answer, 24);
    // An echo request to the VIP in two (`ping -s`), answered in two.
    let mut echo = vec![8u8, 0, 0, 0, 0, 7, 0, 1];
    echo.extend_from_slice(b"a longer ping, in two fragments");
    let csum = !fold(sum(&echo));
    echo[2..4].copy_from_slice(&csum.to_be_bytes());
    let (e0, e1) = cut(&ip_frame(c, CLIENT, VIP, 1, echo), 24);
    vec![
        (Nic::Ext, fragment(q0, 0, true)),
        (Nic::Ext, fragment(q1, 24, false)),
        (Nic::Int, fragment(a0, 0, true)),
        (Nic::Int, fragment(a1, 24, false)),
        (Nic::Ext, fragment(e0, 0, true)),
        (Nic::Ext, fragment(e1, 24, false)),
    ]
}

/// [`templates`] and those of [`Harness::direct`]'s services: data to the
/// TUN and the DR connection; a router's "fragmentation needed" about the
/// tunnel packet of the TUN connection's data, and a client-side one about
/// the DR server's reply; packets without DF over the internal MTU (576) to
/// the UDP service (NAT) and to the TUN one.
pub fn templates_direct() -> Vec<(Nic, Vec<u8>)> {
    use ringvs::wire::encap::{Encap, Outer, encapsulate};
    let c = (CLIENT_MAC, EXT_MAC);
    let tun_data = tcp(c, (CLIENT, 40000), (VIP, 8080), ACK | PSH, b"data");
    let mut tunnelled = vec![0u8; 14 + tun_data.len() + 32];
    let outer = Outer {
        src: DIP,
        dst: RS2,
        ident: 0,
        ttl: 64,
    };
    let gue = Encap::Gue {
        sport: 50000,
        port: 6080,
        csum: false,
    };
    let n = encapsulate(&mut tunnelled[14..], &tun_data[14..], gue, &outer, |_| {})
        .unwrap_or_else(|| unreachable!("room for the tunnel packet"));
    let mut about_tunnel = vec![3u8, 4, 0, 0, 0, 0, 5, 0x78];
    about_tunnel.extend_from_slice(&tunnelled[14..14 + n]);
    let reply = tcp(
        (EXT_MAC, CLIENT_MAC),
        (VIP, 8081),
        (CLIENT, 40000),
        ACK,
        b"",
    );
    let mut about_reply = vec![3u8, 4, 0, 0, 0, 0, 5, 0x78];
    about_reply.extend_from_slice(&reply[14..14 + 28]);
    let no_df = |mut f: Vec<u8>| {
        f[20] = 0;
        f[24..26].copy_from_slice(&[0, 0]);
        let c = !fold(sum(&f[14..34]));
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f
    };
    let r = (RS1_MAC, INT_MAC);
    templates()
        .into_iter()
        .chain([
            (Nic::Ext, tun_data),
            (
                Nic::Ext,
                tcp(c, (CLIENT, 40000), (VIP, 8081), ACK | PSH, b"data"),
            ),
            (Nic::Int, ip_frame(r, ROUTER, DIP, 1, about_tunnel)),
            (Nic::Ext, ip_frame(c, CLIENT, VIP, 1, about_reply)),
            (
                Nic::Ext,
                no_df(udp(c, (CLIENT, 5000), (VIP, 53), &[7; 600])),
            ),
            (
                Nic::Ext,
                no_df(tcp(c, (CLIENT, 40000), (VIP, 8080), ACK | PSH, &[7; 560])),
            ),
        ])
        .collect()
}

/// Client → VIP6 on the external NIC.
pub fn l3_in6() -> L3 {
    L3 {
        src_mac: CLIENT_MAC,
        dst_mac: EXT_MAC,
        src: CLIENT6,
        dst: VIP6,
        hop_limit: 64,
    }
}

/// Real server → client on the internal NIC.
pub fn l3_out6() -> L3 {
    L3 {
        src_mac: RS1_MAC,
        dst_mac: INT_MAC,
        src: RS1_6,
        dst: CLIENT6,
        hop_limit: 64,
    }
}

/// The IPv6 templates: the established connection both ways, a new one (also
/// behind an extension-header chain), UDP, echo to the VIP and the DIP, a
/// solicitation for the VIP (to its solicited-node group), an advertisement
/// from the real server, and ICMPv6 errors (unreachable, packet too big)
/// quoting the connection.
pub fn templates6() -> Vec<(Nic, Vec<u8>)> {
    let (i, o) = (l3_in6(), l3_out6());
    let to_dip = L3 { dst: DIP6, ..o };
    let group = frames6::solicited_node(VIP6);
    let ns = L3 {
        dst: group,
        dst_mac: frames6::multicast_mac(group),
        hop_limit: 255,
        ..i
    };
    let na = L3 {
        dst: DIP6,
        hop_limit: 255,
        ..o
    };
    // What the director sent the client for the connection, as a router on
    // the way quotes it back.
    let quoted = frames6::tcp(
        &L3 {
            src: VIP6,
            dst: CLIENT6,
            src_mac: EXT_MAC,
            dst_mac: CLIENT_MAC,
            hop_limit: 64,
        },
        &[],
        80,
        40000,
        ACK,
        b"",
    );
    let mut unreach = vec![0u8; 4];
    unreach.extend_from_slice(&quoted[14..]);
    let mut too_big = 1280u32.to_be_bytes().to_vec();
    too_big.extend_from_slice(&quoted[14..]);
    vec![
        (Nic::Ext, frames6::tcp(&i, &[], 40001, 80, SYN, b"")),
        (
            Nic::Ext,
            frames6::tcp(&i, &[], 40000, 80, ACK | PSH, b"data"),
        ),
        (
            Nic::Int,
            frames6::tcp(&o, &[], 80, 40000, ACK | PSH, b"reply"),
        ),
        (
            Nic::Ext,
            frames6::tcp(&i, &[Ext::HopByHop, Ext::DestOpts], 40002, 80, SYN, b""),
        ),
        (Nic::Ext, frames6::udp(&i, &[], 5000, 53, b"query", false)),
        (Nic::Int, frames6::udp(&o, &[], 53, 5000, b"answer", false)),
        (Nic::Ext, frames6::echo_request(&i, 7, 1, b"ping")),
        (Nic::Int, frames6::echo_request(&to_dip, 7, 1, b"ping")),
        (Nic::Ext, frames6::neighbor_solicit(&ns, VIP6, CLIENT_MAC)),
        (
            Nic::Int,
            frames6::neighbor_advert(&na, RS1_6, frames6::NA_SOLICITED, RS1_MAC),
        ),
        (Nic::Ext, frames6::icmp6(&i, 1, 4, &unreach)),
        (Nic::Ext, frames6::icmp6(&i, 2, 0, &too_big)),
    ]
}

/// How far into the pipeline a frame got, judged by the counters it moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Dropped for a bad IP or L4 checksum.
    Checksum,
    /// An ICMP error whose quoted packet was translated for a connection.
    IcmpTranslated,
    /// ICMP error handling, then dropped (no connection, malformed quote).
    Icmp,
    /// The connection table: forwarded through a connection (its state
    /// updated), a new one, or dropped there (no connection, clash, full).
    State,
    /// Anything else: ARP, echo, parsing drops, no service...
    Other,
}

/// Frames per [`Stage`] (in its order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stages(pub [u64; 5]);

impl Stages {
    pub fn add(&mut self, s: Stage) {
        self.0[s as usize] += 1;
    }
    pub fn get(&self, s: Stage) -> u64 {
        self.0[s as usize]
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Recompute the IPv4 header checksum and the TCP, UDP or ICMP checksum of a
/// (mutated) frame, as far as its headers say where they are; for an ICMP
/// error, the quoted IP header's checksum first. Frames that are not IPv4 or
/// whose headers do not fit are left as they are.
pub fn fix_checksums(f: &mut [u8]) {
    if f.len() >= 54 && f[12..14] == [0x86, 0xdd] {
        return fix_checksums6(f);
    }
    if f.len() < 34 || f[12..14] != [8, 0] {
        return;
    }
    let ihl = usize::from(f[14] & 15) * 4;
    if ihl < 20 || 14 + ihl > f.len() {
        return;
    }
    let ip_end = (14 + usize::from(u16::from_be_bytes([f[16], f[17]]))).min(f.len());
    f[24] = 0;
    f[25] = 0;
    let c = !fold(sum(&f[14..14 + ihl]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    if ip_end <= 14 + ihl {
        return;
    }
    let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
    let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
    let proto = f[23];
    let l4 = &mut f[14 + ihl..ip_end];
    if proto == 132 && l4.len() >= 12 {
        return ringvs::wire::SctpPacket::new_unchecked(l4).fill_checksum();
    }
    let at = match proto {
        6 if l4.len() >= 20 => 16,
        17 if l4.len() >= 8 => 6,
        1 if l4.len() >= 8 => 2,
        _ => return,
    };
    if proto == 1 && matches!(l4[0], 3 | 11 | 12) && l4.len() >= 28 {
        let qihl = usize::from(l4[8] & 15) * 4;
        if qihl >= 20 && 8 + qihl <= l4.len() {
            l4[18] = 0;
            l4[19] = 0;
            let c = !fold(sum(&l4[8..8 + qihl]));
            l4[18..20].copy_from_slice(&c.to_be_bytes());
        }
    }
    l4[at] = 0;
    l4[at + 1] = 0;
    let pseudo = if proto == 1 {
        0
    } else {
        pseudo_header_v4(src, dst, proto, l4.len() as u16)
    };
    let c = !fold(combine(pseudo, sum(l4)));
    let c = if proto == 17 && c == 0 { 0xffff } else { c };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// [`fix_checksums`] for IPv6: the TCP, UDP or ICMPv6 checksum past the
/// extension headers (RFC 8200 section 8.1), as far as the payload length
/// and the frame agree.
fn fix_checksums6(f: &mut [u8]) {
    let end = (54 + usize::from(u16::from_be_bytes([f[18], f[19]]))).min(f.len());
    let Ok(up) = ringvs::wire::ipv6::walk(f[20], &f[14..end], 40) else {
        return;
    };
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&f[22..38]);
    dst.copy_from_slice(&f[38..54]);
    let Some(l4) = f.get_mut(14 + up.offset..end) else {
        return;
    };
    if up.protocol == 132 && l4.len() >= 12 {
        return ringvs::wire::SctpPacket::new_unchecked(l4).fill_checksum();
    }
    let at = match up.protocol {
        6 if l4.len() >= 20 => 16,
        17 if l4.len() >= 8 => 6,
        58 if l4.len() >= 4 => 2,
        _ => return,
    };
    l4[at] = 0;
    l4[at + 1] = 0;
    let c = frames6::checksum6(src.into(), dst.into(), up.protocol, l4);
    let c = if up.protocol == 17 && c == 0 {
        0xffff
    } else {
        c
    };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

pub struct Harness {
    pub w: Worker<MemRx, MemTx>,
    /// Where the last frame fed got to.
    pub last: Stage,
    /// Mutated templates per stage reached: with checksums recomputed after
    /// the mutation, and without.
    pub fixed: Stages,
    pub unfixed: Stages,
    neigh_rx: Receiver<NeighEvent>,
    /// What the worker shares: its health tap counts the frames handed to
    /// the health thread (or dropped on the way: none is connected here).
    pub shared: Arc<Shared>,
    now: Instant,
    templates: Vec<(Nic, Vec<u8>)>,
    /// Frames fed and frames that came out, over the harness's life.
    pub fed: u64,
    pub sent: u64,
    /// The rules of [`tx_check`] the frames sent were held to.
    pub applied: tx_check::Applied,
    /// Each NIC's MTU.
    mtu: [usize; 2],
}

fn config(extra: &[&str]) -> Config {
    let mut cfg = Config::new();
    for r in [
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-A -u 198.18.0.110:53 -s rr",
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
        "-A -t [2001:2:0:1::110]:80 -s rr",
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:80 -m",
        "-A -u [2001:2:0:1::110]:53 -s rr",
        "-a -u [2001:2:0:1::110]:53 -r [2001:2:0:2::2]:53 -m",
        // One-packet scheduling: no connection, replies by the snapshot.
        "-A -u 198.18.0.110:5300 -s rr -p 60 -o",
        "-a -u 198.18.0.110:5300 -r 198.19.0.2:5300 -m",
        // The SIP persistence engine reads every datagram's Call-ID, and
        // makes a template (with -o) or a connection (without) of a real
        // server's own request (`conn_out`).
        "-A -u 198.18.0.110:5060 -s rr -p 60 -o --pe sip",
        "-a -u 198.18.0.110:5060 -r 198.19.0.2:5060 -m",
        "-A -u 198.18.0.110:5070 -s rr -p 60 --pe sip",
        "-a -u 198.18.0.110:5070 -r 198.19.0.2:5070 -m",
        // SCTP: associations, their states and the CRC32c; a server on
        // the virtual port (5002), whose fragments go through, and IPv6
        // (its atomic fragments translated whole).
        "-A --sctp-service 198.18.0.110:5000 -s rr",
        "-a --sctp-service 198.18.0.110:5000 -r 198.19.0.2:5001 -m",
        "-A --sctp-service 198.18.0.110:5002 -s rr",
        "-a --sctp-service 198.18.0.110:5002 -r 198.19.0.2:5002 -m",
        "-A --sctp-service [2001:2:0:1::110]:5000 -s rr",
        "-a --sctp-service [2001:2:0:1::110]:5000 -r [2001:2:0:2::2]:5001 -m",
    ]
    .iter()
    .chain(extra)
    {
        let args: Vec<String> = r.split_whitespace().map(String::from).collect();
        let cmd = parse(&args).expect("rule parses");
        apply(&mut cfg, &cmd).expect("rule applies");
    }
    cfg
}

impl Harness {
    /// A dual-stack worker (tables of 64) with an established TCP connection
    /// (CLIENT:40000 ↔ RS1:80) and a UDP flow (CLIENT:5000 ↔ RS1:53) in each
    /// family.
    pub fn new() -> Self {
        Self::build(&[], 1500, templates())
    }

    /// [`Harness::new`] with two more services, one whose real server (RS2)
    /// is reached by a GUE tunnel (VIP:8080) and one by direct routing
    /// (VIP:8081, RS1), each with a connection, and an internal MTU of 576:
    /// fuzzed frames reach DR and TUN forwarding, the ICMP errors about them
    /// (`direct.rs`: passed on to the server, or about a tunnel packet of
    /// ours turned into one to the client) and fragmentation (`tx.rs`).
    pub fn direct() -> Self {
        let mut h = Self::build(&DIRECT_RULES, 576, templates_direct());
        let c = (CLIENT_MAC, EXT_MAC);
        for port in [8080, 8081] {
            let syn = tcp(c, (CLIENT, 40000), (VIP, port), SYN, b"");
            assert_eq!(h.one(Nic::Ext, &syn, false), 1, "set-up SYN to {port}");
        }
        h
    }

    fn build(extra: &[&str], int_mtu: usize, templates: Vec<(Nic, Vec<u8>)>) -> Self {
        let mut env = Env {
            ext_net6: Some("2001:2:0:1::2/64".parse().expect("prefix")),
            int_net6: Some("2001:2:0:2::1/64".parse().expect("prefix")),
            ..Env::new(
                [Mac(EXT_MAC), Mac(INT_MAC)],
                "198.18.0.2/24".parse().expect("prefix"),
                "198.19.0.1/24".parse().expect("prefix"),
            )
        };
        env.mtu[Nic::Int as usize] = int_mtu;
        let mtu = env.mtu;
        // The FTP helper on the TCP service's port: fuzzed segments of the
        // established connection go through it (`templates_ftp`).
        env.ftp = ringvs::nat::ftp::FtpPorts::new(&[80]).expect("ports");
        let plan = Plan {
            handoff_depth: 4,
            ..Plan::new(1, env, 64)
        };
        let now = plan.start;
        let mut dp = Director::new(plan, Snapshot::build(&config(extra), Timeouts::default()));
        let mut neigh = NeighTable::new();
        for (nic, ip, mac) in [
            (Nic::Ext, CLIENT, CLIENT_MAC),
            (Nic::Int, RS1, RS1_MAC),
            (Nic::Int, RS2, RS2_MAC),
        ] {
            let ip = u32::from(ip);
            neigh.event(NeighEvent::Resolve { nic, ip }, now);
            neigh.event(
                NeighEvent::Heard {
                    nic,
                    ip,
                    mac: Mac(mac),
                    reply: true,
                },
                now,
            );
        }
        for (nic, ip, mac) in [(Nic::Ext, CLIENT6, CLIENT_MAC), (Nic::Int, RS1_6, RS1_MAC)] {
            neigh.event(NeighEvent::Resolve6 { nic, ip }, now);
            neigh.event(
                NeighEvent::HeardNa {
                    nic,
                    ip,
                    tlla: Some(Mac(mac)),
                    src: Mac(mac),
                    solicited: true,
                    overrides: true,
                },
                now,
            );
        }
        if let Some(s) = neigh.take_snapshot() {
            dp.shared.neigh.store(Arc::new(s));
        }
        dp.shared.bump();
        let queues = (
            NicPair::new(MemRx::new(), MemRx::new()),
            NicPair::new(MemTx::new(), MemTx::new()),
        );
        let Some(w) = dp.workers([queues]).pop() else {
            unreachable!("a plan of one worker builds one")
        };
        let neigh_rx = dp.neigh_rx.clone();
        let mut h = Self {
            w,
            last: Stage::Other,
            fixed: Stages::default(),
            unfixed: Stages::default(),
            neigh_rx,
            shared: dp.shared.clone(),
            now,
            templates,
            fed: 0,
            sent: 0,
            applied: tx_check::Applied::default(),
            mtu,
        };
        let c = (CLIENT_MAC, EXT_MAC);
        let r = (RS1_MAC, INT_MAC);
        for (nic, f) in [
            (Nic::Ext, tcp(c, (CLIENT, 40000), (VIP, 80), SYN, b"")),
            (Nic::Int, tcp(r, (RS1, 80), (CLIENT, 40000), SYN | ACK, b"")),
            (Nic::Ext, tcp(c, (CLIENT, 40000), (VIP, 80), ACK, b"")),
            (Nic::Ext, udp(c, (CLIENT, 5000), (VIP, 53), b"q")),
            (Nic::Ext, frames6::tcp(&l3_in6(), &[], 40000, 80, SYN, b"")),
            (
                Nic::Int,
                frames6::tcp(&l3_out6(), &[], 80, 40000, SYN | ACK, b""),
            ),
            (Nic::Ext, frames6::tcp(&l3_in6(), &[], 40000, 80, ACK, b"")),
            (
                Nic::Ext,
                frames6::udp(&l3_in6(), &[], 5000, 53, b"q", false),
            ),
        ] {
            assert_eq!(h.one(nic, &f, false), 1, "set-up frame forwarded");
        }
        h
    }

    pub fn templates(&self) -> &[(Nic, Vec<u8>)] {
        &self.templates
    }

    /// Feed one frame and check its outcome; returns the frames it caused to be sent.
    pub fn one(&mut self, nic: Nic, frame: &[u8], partial: bool) -> u64 {
        let meta = RxMeta {
            wire_len: frame.len() as u32,
            csum_partial: partial,
            csum_valid: false,
            vlan: None,
        };
        self.one_with(nic, frame, meta)
    }

    /// [`Harness::one`] with the ring's word on the frame `meta`: a
    /// checksum it vouched for, a VLAN tag it took off.
    pub fn one_with(&mut self, nic: Nic, frame: &[u8], meta: RxMeta) -> u64 {
        let before: Counters = self.w.core.ctr.clone();
        let tapped_before = self.shared.health.handed();
        match nic {
            Nic::Ext => self.w.rx[Nic::Ext].push_with(frame, meta),
            Nic::Int => self.w.rx[Nic::Int].push_with(frame, meta),
        }
        self.now += Duration::from_millis(7);
        self.w.poll_once(self.now);
        let out = [
            self.w.tx[Nic::Ext].take_sent(),
            self.w.tx[Nic::Int].take_sent(),
        ];
        let sent = (out[0].len() + out[1].len()) as u64;
        let after = &self.w.core.ctr;
        let d = |c: Ctr| after.get(c) - before.get(c);
        let input = tx_check::Input {
            frame,
            partial: meta.csum_partial,
            forwarded: sent == 1
                && d(Ctr::FwdIn) + d(Ctr::FwdOut) + d(Ctr::FwdIn6) + d(Ctr::FwdOut6) == 1,
            tunnelled: d(Ctr::TunnelEncap) > 0,
            macs: [EXT_MAC, INT_MAC],
            gue_port: GUE_PORT,
            mtu: self.mtu,
        };
        for (nic, frames) in out.iter().enumerate() {
            for f in frames {
                tx_check::check(nic, f, &input, &mut self.applied);
            }
        }
        let drops: u64 = Ctr::ALL
            .iter()
            .filter(|c| c.name().starts_with("drop_"))
            .map(|&c| d(c))
            .sum();
        // ARP passed to the neighbor table without an answer: a reply to us,
        // or a gratuitous claim of a known neighbor's address from a new MAC
        // (which is reported as heard, not as a reply); an MLD query passed
        // to the control thread, which answers it later.
        let _ = self.neigh_rx.try_iter().count();
        let heard = d(Ctr::ArpHeard) + d(Ctr::NdpHeard) + d(Ctr::MldQuery);
        assert_eq!(d(Ctr::RxExt) + d(Ctr::RxInt), 1, "received once");
        assert_eq!(d(Ctr::TxExt) + d(Ctr::TxInt), sent, "sent as counted");
        // A packet sent in fragments is one outcome, and so is one queued in
        // fragments (`neigh_queued_fragmented`; its `tx_fragmented` comes
        // only when they go); so is one too big for its egress (`drop_too_big`), or whose TTL ran out
        // (`drop_ttl`), or that no real server could take (`drop_no_dest`),
        // or an IPv6 fragment the kernel's reassembly refuses
        // (`drop_frag_invalid`), or whose next hop never answered
        // (`drop_neigh_unresolved`), whose sender is told so.
        let told = d(Ctr::IcmpFragNeeded)
            + d(Ctr::Icmp6TooBig)
            + d(Ctr::Icmp6ParamProblem)
            + d(Ctr::IcmpTimeExceeded)
            + d(Ctr::IcmpPortUnreach)
            + d(Ctr::IcmpHostUnreach);
        let packets = sent + d(Ctr::NeighQueued) - d(Ctr::TxFragments)
            + d(Ctr::TxFragmented)
            + d(Ctr::NeighQueuedFragmented)
            - told;
        // A fragment held for its datagram's first is one; one taken up
        // again (sent on or dropped) has its own besides the frame's; so
        // has a frame parked for its next hop given up during this frame's
        // pass (`drop_neigh_unresolved`: e.g. a one-packet-scheduling reply
        // translated to a client address nobody answers ARP for), or pushed
        // out of its full queue by this frame (`neigh_evicted`, in
        // `drop_neigh_queue` too).
        let held = d(Ctr::FragHeld);
        // Handed to the health thread (`divert.rs`).
        let diverted = self.shared.health.handed() - tapped_before;
        let outcomes = packets + d(Ctr::HandoffOut) + drops + heard + held + diverted;
        assert_eq!(
            outcomes,
            1 + d(Ctr::FragReleased) + d(Ctr::DropNeighUnresolved) + d(Ctr::NeighEvicted),
            "one outcome per frame: sent {sent}, queued {}, handed off {}, drops {drops}, heard {heard}, held {held}, released {}; frame {frame:02x?}",
            d(Ctr::NeighQueued),
            d(Ctr::HandoffOut),
            d(Ctr::FragReleased),
        );
        self.last = if d(Ctr::DropIpChecksum) + d(Ctr::DropL4Checksum) > 0 {
            Stage::Checksum
        } else if d(Ctr::IcmpErrorNat) + d(Ctr::IcmpErrorDirect) + d(Ctr::IcmpErrorTunnel) > 0 {
            Stage::IcmpTranslated
        } else if d(Ctr::DropIcmp) + d(Ctr::DropIcmpNoConn) > 0 {
            Stage::Icmp
        } else if d(Ctr::FwdIn)
            + d(Ctr::FwdOut)
            + d(Ctr::ConnNew)
            + d(Ctr::OpsScheduled)
            + d(Ctr::DropNoConn)
            + d(Ctr::DropConnClash)
            + d(Ctr::DropTableFull)
            > 0
        {
            Stage::State
        } else {
            Stage::Other
        };
        self.fed += 1;
        self.sent += sent;
        sent
    }

    /// Interpret fuzzer bytes as a run of frames: per frame a header byte (bit 0:
    /// internal NIC; bit 1: partial checksum; bit 2: mutate a template, chosen by
    /// the next byte, with the following (offset, value) pairs, else raw bytes;
    /// bit 3: address the raw bytes to our MAC as IPv4, or as IPv6 with bit 5;
    /// bit 4: recompute the
    /// checksums of a mutated template, so that the mutation gets past the
    /// checksum checks to ICMP translation and connection state; bit 6: the
    /// ring vouched for the checksum (`csum_valid`, unless partial); bit 7:
    /// the ring took a VLAN tag off, of id 0 or 5 as the length is even or
    /// odd) and a length byte.
    pub fn run(&mut self, mut data: &[u8]) {
        while let [hdr, len, rest @ ..] = data {
            let n = usize::from(*len).min(rest.len());
            let (body, tail) = rest.split_at(n);
            data = tail;
            let partial = hdr & 2 != 0;
            let meta = |f: &[u8]| RxMeta {
                wire_len: f.len() as u32,
                csum_partial: partial,
                csum_valid: hdr & 64 != 0 && !partial,
                vlan: (hdr & 128 != 0).then_some(ringvs::io::VlanTag {
                    tpid: 0x8100,
                    tci: if len & 1 == 0 { 0x2000 } else { 5 },
                }),
            };
            if hdr & 4 != 0 {
                let Some((which, edits)) = body.split_first() else {
                    continue;
                };
                let (nic, mut f) =
                    self.templates[usize::from(*which) % self.templates.len()].clone();
                for e in edits.chunks_exact(2) {
                    let at = usize::from(e[0]);
                    if at < f.len() {
                        f[at] = e[1];
                    } else if e[1] & 1 == 0 {
                        f.truncate(at % (f.len() + 1));
                    }
                }
                let fix = hdr & 16 != 0;
                if fix {
                    fix_checksums(&mut f);
                }
                self.one_with(nic, &f, meta(&f));
                let tally = if fix {
                    &mut self.fixed
                } else {
                    &mut self.unfixed
                };
                tally.add(self.last);
            } else {
                let nic = if hdr & 1 != 0 { Nic::Int } else { Nic::Ext };
                let mut f = body.to_vec();
                if hdr & 8 != 0 && f.len() >= 14 {
                    f[..6].copy_from_slice(if nic == Nic::Ext { &EXT_MAC } else { &INT_MAC });
                    let ethertype: [u8; 2] = if hdr & 32 != 0 { [0x86, 0xdd] } else { [8, 0] };
                    f[12..14].copy_from_slice(&ethertype);
                }
                self.one_with(nic, &f, meta(&f));
            }
        }
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}
