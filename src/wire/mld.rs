//! MLDv2 listener reports (RFC 3810 §5.2): how the director tells the link's
//! snooping switches which multicast groups it listens to. A node must join
//! the solicited-node group of each of its addresses (RFC 4861 §7.2.1) and
//! report it, or a switch with MLD snooping (RFC 4541) forwards neighbor
//! solicitations for a VIP or the DIP to no port of the director. Linux does
//! it for its own addresses (`addrconf_join_solict`, `igmp6_join_group`);
//! the director's kernel does not hold the VIPs and DIPs (IPv6 is often off
//! on its NICs), so ringvs reports their groups itself.
//!
//! A report goes to all MLDv2 routers (ff02::16) with hop limit 1 and the
//! hop-by-hop Router Alert option (RFC 2711, value 0: MLD), from the NIC's
//! link-local address, or from the unspecified address while it has none
//! (RFC 3810 §5.2.13, §7.9; RFC 2710 §3: as the kernel's `mld_newpack` and
//! `igmp6_send` pick it with `ipv6_get_lladdr`): the caller says which
//! (`control::send_mld`). Some snooping switches ignore `::`-sourced
//! reports. Each group is one record without sources: `EXCLUDE {}`, i.e.
//! every source.
//!
//! Queries ([`parse_query`]) are checked as RFC 3810 §6.2 and the kernel's
//! `__mld_query_work` (`net/ipv6/mcast.c`) check them, and answered
//! ([`answer`]): an MLDv2 query by current-state records, an MLDv1 query
//! (RFC 2710 §3.6: exactly 24 bytes) by MLDv1 reports ([`emit_report_v1`],
//! to the group, as the kernel's `igmp6_send` in MLDv1 mode).

use super::checksum;
use super::ipv6::{self, Endpoints, next_header};
use super::{Mac, ethernet, icmpv6};
use std::net::Ipv6Addr;
use std::time::Duration;

/// All MLDv2-capable routers (RFC 3810 §5.2.14).
pub const ALL_MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);
/// ICMPv6 type of an MLDv2 report.
pub const REPORT_V2: u8 = 143;
/// ICMPv6 type of a multicast listener query (v1 and v2).
pub const QUERY: u8 = 130;
/// ICMPv6 type of an MLDv1 report (RFC 2710 §3).
pub const REPORT_V1: u8 = 131;
/// An MLDv1 message's length, a query's or a report's (RFC 2710 §3.7:
/// a query of any other length is not MLDv1).
const V1_LEN: usize = 24;
/// The shortest MLDv2 query: no source (RFC 3810 §5.1).
const V2_QUERY_MIN: usize = 28;

/// Record types (RFC 3810 §5.2.12).
pub mod record {
    /// Current state: listening to every source (the answer to a query).
    pub const MODE_IS_EXCLUDE: u8 = 2;
    /// State change: now listening to every source (a join).
    pub const CHANGE_TO_EXCLUDE: u8 = 4;
}

/// The hop-by-hop header in front of the report: ICMPv6 next, Router Alert
/// (type 5, length 2, value 0: MLD), then PadN (type 1, length 0).
const HOP_BY_HOP: [u8; 8] = [next_header::ICMPV6, 0, 5, 2, 0, 0, 1, 0];
/// The report's fixed header: type, code, checksum, reserved, record count.
const REPORT_HEADER: usize = 8;
/// One record without sources or auxiliary data.
const RECORD_LEN: usize = 20;
/// Records in one report of at most 1280 bytes of IPv6, RFC 8200's minimum
/// MTU: more groups go in more reports.
pub const RECORDS_PER_REPORT: usize =
    (ipv6::MIN_MTU - ipv6::HEADER_LEN - HOP_BY_HOP.len() - REPORT_HEADER) / RECORD_LEN;
/// The largest report frame.
pub const REPORT_FRAME_MAX: usize = ethernet::HEADER_LEN
    + ipv6::HEADER_LEN
    + HOP_BY_HOP.len()
    + REPORT_HEADER
    + RECORDS_PER_REPORT * RECORD_LEN;

/// Writes an Ethernet frame with an MLDv2 report from `mac` and `src` (the
/// NIC's link-local address, or `::` while it has none) of `groups` (at
/// most [`RECORDS_PER_REPORT`]), each a record of `kind` ([`record`]) with
/// no source, and returns its length. `None` if `buf` is too short or
/// there are too many groups.
pub fn emit_report(
    buf: &mut [u8],
    (mac, src): (Mac, Ipv6Addr),
    kind: u8,
    groups: &[Ipv6Addr],
) -> Option<usize> {
    if groups.len() > RECORDS_PER_REPORT {
        return None;
    }
    let icmp_len = REPORT_HEADER + groups.len() * RECORD_LEN;
    let ends = Endpoints {
        src_mac: mac,
        dst_mac: ipv6::multicast_mac(ALL_MLDV2_ROUTERS),
        src,
        dst: ALL_MLDV2_ROUTERS,
    };
    let payload = HOP_BY_HOP.len() + icmp_len;
    let len = ipv6::emit_headers(buf, &ends, next_header::HOP_BY_HOP, 1, payload)?;
    let at = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
    buf[at..at + HOP_BY_HOP.len()].copy_from_slice(&HOP_BY_HOP);
    let icmp = &mut buf[at + HOP_BY_HOP.len()..len];
    icmp[..REPORT_HEADER].fill(0);
    icmp[0] = REPORT_V2;
    icmp[6..8].copy_from_slice(&(groups.len() as u16).to_be_bytes());
    for (r, g) in icmp[REPORT_HEADER..]
        .chunks_exact_mut(RECORD_LEN)
        .zip(groups)
    {
        r[..4].copy_from_slice(&[kind, 0, 0, 0]);
        r[4..].copy_from_slice(&g.octets());
    }
    let pseudo =
        checksum::pseudo_header_v6(ends.src, ends.dst, next_header::ICMPV6, icmp_len as u32);
    let sum = checksum::fold(checksum::combine(pseudo, checksum::sum(icmp)));
    icmp[2..4].copy_from_slice(&(!sum).to_be_bytes());
    debug_assert!(icmpv6::Icmpv6Packet::new_unchecked(&*icmp).verify_checksum(ends.src, ends.dst));
    Some(len)
}

/// An MLDv1 report frame's length.
pub const REPORT_V1_FRAME: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN + 8 + V1_LEN;

/// Writes an Ethernet frame with an MLDv1 report from `mac` and `src` of
/// `group` (RFC 2710 §3): to the group itself, hop limit 1, the Router
/// Alert, from the NIC's link-local address or `::` as the MLDv2 reports.
/// Its length; `None` if `buf` is too short.
pub fn emit_report_v1(
    buf: &mut [u8],
    (mac, src): (Mac, Ipv6Addr),
    group: Ipv6Addr,
) -> Option<usize> {
    let ends = Endpoints {
        src_mac: mac,
        dst_mac: ipv6::multicast_mac(group),
        src,
        dst: group,
    };
    let payload = HOP_BY_HOP.len() + V1_LEN;
    let len = ipv6::emit_headers(buf, &ends, next_header::HOP_BY_HOP, 1, payload)?;
    let at = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
    buf[at..at + HOP_BY_HOP.len()].copy_from_slice(&HOP_BY_HOP);
    let icmp = &mut buf[at + HOP_BY_HOP.len()..len];
    icmp[..8].fill(0);
    icmp[0] = REPORT_V1;
    icmp[8..].copy_from_slice(&group.octets());
    let pseudo = checksum::pseudo_header_v6(ends.src, ends.dst, next_header::ICMPV6, V1_LEN as u32);
    let sum = checksum::fold(checksum::combine(pseudo, checksum::sum(icmp)));
    icmp[2..4].copy_from_slice(&(!sum).to_be_bytes());
    Some(len)
}

/// A multicast listener query that passed [`parse_query`]'s checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// The group it asks about; `None` for a general query (every group).
    pub group: Option<Ipv6Addr>,
    /// Its Maximum Response Delay: an answer goes at a random moment
    /// within it (RFC 3810 §6.2).
    pub max_delay: Duration,
    /// An MLDv1 query (24 bytes), answered by MLDv1 reports.
    pub v1: bool,
    /// Taken only because its NIC is in MLDv1 compatibility mode, which
    /// reads any query longer than 24 bytes as MLDv1: one that is no
    /// valid MLDv2 query (a general query naming sources, 25 to 27 bytes,
    /// a source list cut short). Not one to take out of that mode
    /// (`neigh::Announcer::queried`).
    pub v1_mode_only: bool,
    /// An MLDv2 query's Querier's Robustness Variable and Query Interval
    /// Code (RFC 3810 §5.1.8, §5.1.9); 0 in an MLDv1 query.
    pub qrv: u8,
    pub qqic: u8,
}

/// RFC 3810 §5.1.9: the Query Interval, in seconds, a Query Interval Code
/// stands for: itself below 128, else a floating-point value (`1 exp
/// mant`: `(mant | 0x10) << (exp + 3)`), as the kernel's `mld_update_qi`
/// reads it.
pub fn query_interval_s(qqic: u8) -> u32 {
    match qqic {
        c if c < 0x80 => u32::from(c),
        c => (u32::from(c & 0x0f) | 0x10) << (u32::from((c >> 4) & 7) + 3),
    }
}

/// RFC 3810 §5.1.3: the Maximum Response Delay, in milliseconds, a Maximum
/// Response Code stands for: itself below 32768, else a floating-point
/// value (`1 exp mant`: `(mant | 0x1000) << (exp + 3)`), as the kernel's
/// `mldv2_mrc` reads it.
pub fn max_response_delay_ms(code: u16) -> u32 {
    match code {
        c if c < 0x8000 => u32::from(c),
        c => {
            let exp = u32::from((c >> 12) & 7);
            let mant = u32::from(c & 0x0fff);
            (mant | 0x1000) << (exp + 3)
        }
    }
}

/// Whether `a` is link-local (fe80::/10).
fn is_link_local(a: Ipv6Addr) -> bool {
    let o = a.octets();
    o[0] == 0xfe && o[1] & 0xc0 == 0x80
}

/// Whether `packet` (from its IPv6 header) starts with a hop-by-hop header
/// holding a Router Alert option whose value says MLD (0, RFC 2711).
fn router_alert_mld(packet: &[u8]) -> bool {
    if packet.get(6) != Some(&next_header::HOP_BY_HOP) {
        return false;
    }
    let at = ipv6::HEADER_LEN;
    let Some(&units) = packet.get(at + 1) else {
        return false;
    };
    let end = at + (usize::from(units) + 1) * 8;
    let Some(opts) = packet.get(at + 2..end) else {
        return false;
    };
    let mut i = 0;
    while let Some(&ty) = opts.get(i) {
        if ty == 0 {
            // Pad1: one byte, no length.
            i += 1;
            continue;
        }
        let Some(&len) = opts.get(i + 1) else {
            return false;
        };
        let value = opts.get(i + 2..i + 2 + usize::from(len));
        if ty == 5 && value == Some(&[0, 0][..]) {
            return true;
        }
        i += 2 + usize::from(len);
    }
    false
}

/// The query in `packet` (an IPv6 packet cut to its length, its ICMPv6
/// message at `l4`), if it passes the checks RFC 3810 §6.2 asks of a node
/// and the kernel's `__mld_query_work` makes: a link-local source, hop
/// limit 1, a Router Alert option for MLD; then a good checksum, a group
/// that is unspecified (a general query) or multicast, and a length that
/// is MLDv1's (24) or an MLDv2 query's (28 and 16 bytes a source); an
/// MLDv2 general query names no source. `None` otherwise.
///
/// With `v1_mode` (the NIC is in MLDv1 compatibility mode), any query of
/// 24 bytes or more is read as MLDv1, its sources and length unchecked, as
/// the kernel's `__mld_query_work` hands every query to `mld_process_v1`
/// in that mode: one that is no valid MLDv2 query is taken, marked
/// [`Query::v1_mode_only`].
pub fn parse_query(packet: &[u8], l4: usize, v1_mode: bool) -> Option<Query> {
    let ip = ipv6::Ipv6Packet::new_checked(packet).ok()?;
    let (src, dst) = (ip.src(), ip.dst());
    if !is_link_local(src) || ip.hop_limit() != 1 || !router_alert_mld(packet) {
        return None;
    }
    let msg = packet.get(l4..)?;
    let icmp = icmpv6::Icmpv6Packet::new_checked(msg).ok()?;
    if icmp.msg_type() != QUERY || !icmp.verify_checksum(src, dst) {
        return None;
    }
    let group: [u8; 16] = msg.get(8..24)?.try_into().ok()?;
    let group = match Ipv6Addr::from(group) {
        g if g.is_unspecified() => None,
        g if g.is_multicast() => Some(g),
        _ => return None,
    };
    let code = u16::from_be_bytes([msg[4], msg[5]]);
    let ms = |ms: u32| Duration::from_millis(u64::from(ms));
    let valid_v2 = |n: usize| {
        let sources = usize::from(u16::from_be_bytes([msg[26], msg[27]]));
        (group.is_some() || sources == 0) && n >= V2_QUERY_MIN + 16 * sources
    };
    match msg.len() {
        V1_LEN => Some(Query {
            group,
            max_delay: ms(u32::from(code)),
            v1: true,
            v1_mode_only: false,
            qrv: 0,
            qqic: 0,
        }),
        n if n >= V2_QUERY_MIN && valid_v2(n) => Some(Query {
            group,
            max_delay: ms(max_response_delay_ms(code)),
            v1: false,
            v1_mode_only: false,
            qrv: msg[24] & 7,
            qqic: msg[25],
        }),
        // Only MLDv1 mode takes it, its delay read as MLDv1's (capped
        // there: `Announcer::queried`), nothing else of it kept.
        _ if v1_mode => Some(Query {
            group,
            max_delay: ms(max_response_delay_ms(code)),
            v1: false,
            v1_mode_only: true,
            qrv: 0,
            qqic: 0,
        }),
        _ => None,
    }
}

/// The reports answering a query for `asked` (`None`: a general query), of
/// MLD version 1 if `v1`, on a link where we listen to `groups`, each frame
/// from `from` (MAC, source address) given to `send`. MLDv2: current-state records
/// (`MODE_IS_EXCLUDE`, every source) of every group, in as many reports as
/// they need, or of the group asked about; MLDv1: a report of each group
/// asked about. Nothing about a group not in `groups` (RFC 3810 §6.2: a
/// query for another group is not ours to answer). How many frames were
/// made (`send` may refuse some).
pub fn answer(
    from: (Mac, Ipv6Addr),
    (asked, v1): (Option<Ipv6Addr>, bool),
    groups: &[Ipv6Addr],
    send: impl FnMut(&[u8]),
) -> u64 {
    let which: Vec<Ipv6Addr> = groups
        .iter()
        .filter(|g| asked.is_none_or(|a| a == **g))
        .copied()
        .collect();
    report(from, (record::MODE_IS_EXCLUDE, v1), &which, send)
}

/// Reports of `groups` from `from` (MAC, source address: the NIC's
/// link-local one or `::`), each frame given to `send`: MLDv2
/// records of `kind` ([`record`]) in as many reports as they need, or
/// with `v1` an MLDv1 report of each group (which has no record types).
/// How many frames were made (`send` may refuse some).
pub fn report(
    from: (Mac, Ipv6Addr),
    (kind, v1): (u8, bool),
    groups: &[Ipv6Addr],
    mut send: impl FnMut(&[u8]),
) -> u64 {
    let mut buf = [0u8; REPORT_FRAME_MAX];
    let mut sent = 0;
    if v1 {
        for &g in groups {
            if let Some(len) = emit_report_v1(&mut buf, from, g) {
                send(&buf[..len]);
                sent += 1;
            }
        }
        return sent;
    }
    for some in groups.chunks(RECORDS_PER_REPORT) {
        if let Some(len) = emit_report(&mut buf, from, kind, some) {
            send(&buf[..len]);
            sent += 1;
        }
    }
    sent
}

/// The solicited-node groups of `addrs`, each once (addresses sharing their
/// low 24 bits share a group), in the order first seen.
pub fn groups_of(addrs: impl IntoIterator<Item = Ipv6Addr>) -> Vec<Ipv6Addr> {
    let mut out: Vec<Ipv6Addr> = Vec::new();
    for g in addrs.into_iter().map(ipv6::solicited_node) {
        if !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod test {
    use super::*;
    use smoltcp::wire::{
        Icmpv6Packet, Icmpv6Repr, Ipv6ExtHeader, Ipv6Packet, MldRecordType, MldRepr,
    };

    const MAC: Mac = Mac([0x02, 0xee, 0, 0, 0, 1]);
    /// No link-local address (yet): reports come from `::`.
    const ANY: Ipv6Addr = Ipv6Addr::UNSPECIFIED;
    /// A NIC's kernel link-local address (EUI-64 of `MAC`).
    const LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0xee, 0xff, 0xfe00, 1);

    /// A report of two groups as smoltcp reads it: the Router Alert, hop
    /// limit 1, to ff02::16 at 33:33:00:00:00:16, a good checksum, and both
    /// records, `EXCLUDE` with no source.
    #[test]
    fn a_report_is_what_mld_readers_expect() {
        let vip = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
        let dip = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1);
        let groups = groups_of([vip, dip]);
        assert_eq!(
            groups,
            [
                "ff02::1:ff00:110".parse::<Ipv6Addr>().unwrap(),
                "ff02::1:ff00:1".parse().unwrap()
            ]
        );
        let mut buf = [0u8; REPORT_FRAME_MAX];
        let len = emit_report(&mut buf, (MAC, ANY), record::CHANGE_TO_EXCLUDE, &groups).unwrap();
        assert_eq!(len, 14 + 40 + 8 + 8 + 2 * 20);
        assert_eq!(buf[..6], [0x33, 0x33, 0, 0, 0, 0x16]);
        assert_eq!(buf[6..12], MAC.0);
        let ip = Ipv6Packet::new_checked(&buf[14..len]).unwrap();
        assert_eq!(ip.hop_limit(), 1);
        assert_eq!(ip.src_addr(), Ipv6Addr::UNSPECIFIED);
        assert_eq!(ip.dst_addr(), ALL_MLDV2_ROUTERS);
        assert_eq!(ip.next_header(), smoltcp::wire::IpProtocol::HopByHop);
        let ext = Ipv6ExtHeader::new_checked(ip.payload()).unwrap();
        assert_eq!(ext.next_header(), smoltcp::wire::IpProtocol::Icmpv6);
        assert_eq!(ext.payload()[..4], [5, 2, 0, 0], "Router Alert: MLD");
        let icmp = Icmpv6Packet::new_checked(&ip.payload()[8..]).unwrap();
        assert!(icmp.verify_checksum(&Ipv6Addr::UNSPECIFIED, &ALL_MLDV2_ROUTERS));
        let caps = smoltcp::phy::ChecksumCapabilities::default();
        let repr =
            Icmpv6Repr::parse(&Ipv6Addr::UNSPECIFIED, &ALL_MLDV2_ROUTERS, &icmp, &caps).unwrap();
        let Icmpv6Repr::Mld(MldRepr::Report {
            nr_mcast_addr_rcrds,
            data,
        }) = repr
        else {
            panic!("not a report: {repr:?}");
        };
        assert_eq!(nr_mcast_addr_rcrds, 2);
        for (r, g) in data.chunks_exact(RECORD_LEN).zip(&groups) {
            let rec = smoltcp::wire::MldAddressRecord::new_checked(r).unwrap();
            assert_eq!(rec.record_type(), MldRecordType::ChangeToExclude);
            assert_eq!(rec.num_srcs(), 0);
            assert_eq!(rec.mcast_addr(), *g);
        }
    }

    /// An MLDv2 general query as a Linux querier sends it (`ip link set br0
    /// type bridge mcast_querier 1`): from fe80::1 to ff02::1, hop limit 1,
    /// the Router Alert, Maximum Response Code 10000 (10 s), QRV 2, QQIC
    /// 125, no source.
    fn general_query() -> Vec<u8> {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::1".parse().unwrap();
        let mut p = vec![0x60, 0, 0, 0, 0, 36, 0, 1];
        p.extend(src.octets());
        p.extend(dst.octets());
        p.extend(HOP_BY_HOP);
        let mut m = vec![QUERY, 0, 0, 0, 0x27, 0x10, 0, 0];
        m.extend([0; 16]);
        m.extend([2, 125, 0, 0]);
        let pseudo = checksum::pseudo_header_v6(src, dst, next_header::ICMPV6, m.len() as u32);
        let sum = checksum::fold(checksum::combine(pseudo, checksum::sum(&m)));
        m[2..4].copy_from_slice(&(!sum).to_be_bytes());
        p.extend(m);
        p
    }

    #[test]
    fn queries_are_read_and_checked() {
        let q = general_query();
        let want = Query {
            group: None,
            max_delay: Duration::from_secs(10),
            v1: false,
            v1_mode_only: false,
            qrv: 2,
            qqic: 125,
        };
        assert_eq!(parse_query(&q, 48, false), Some(want));
        assert_eq!(parse_query(&q, 48, true), Some(want));
        // smoltcp reads it the same.
        let ip = Ipv6Packet::new_checked(&q[..]).unwrap();
        let icmp = Icmpv6Packet::new_checked(&ip.payload()[8..]).unwrap();
        assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
        assert_eq!(icmp.max_resp_code(), 10000);
        // Each check: a global source, hop limit 2, the Router Alert's value.
        for (at, v) in [(8, 0x20), (7, 2), (45, 1)] {
            let mut bad = q.clone();
            bad[at] = v;
            assert_eq!(parse_query(&bad, 48, false), None, "byte {at} = {v}");
            assert_eq!(parse_query(&bad, 48, true), None, "byte {at} = {v}");
        }
        // A checksum off by one; the message cut to 27 bytes.
        let mut bad = q.clone();
        bad[51] ^= 1;
        assert_eq!(parse_query(&bad, 48, false), None);
        assert_eq!(parse_query(&bad, 48, true), None);
        assert_eq!(parse_query(&q[..75], 48, false), None);
    }

    /// RFC 3810 §5.1.3's examples: below 32768 the code is the delay;
    /// `0x8000` is `0x1000 << 3`; the largest is `0x1fff << 10`.
    #[test]
    fn maximum_response_codes() {
        assert_eq!(max_response_delay_ms(10_000), 10_000);
        assert_eq!(max_response_delay_ms(0x7fff), 32_767);
        assert_eq!(max_response_delay_ms(0x8000), 32_768);
        assert_eq!(max_response_delay_ms(0x8001), 32_776);
        assert_eq!(max_response_delay_ms(0xffff), 0x1fff << 10);
        // And the Query Interval Code's (§5.1.9).
        assert_eq!(query_interval_s(125), 125);
        assert_eq!(query_interval_s(0x80), 128);
        assert_eq!(query_interval_s(0xff), 0x1f << 10);
    }

    #[test]
    fn an_mldv1_report_goes_to_its_group() {
        let g: Ipv6Addr = "ff02::1:ff00:110".parse().unwrap();
        let mut buf = [0xa5u8; REPORT_V1_FRAME];
        let len = emit_report_v1(&mut buf, (MAC, ANY), g).unwrap();
        assert_eq!(len, REPORT_V1_FRAME);
        assert_eq!(buf[..6], [0x33, 0x33, 0xff, 0, 0x01, 0x10]);
        let ip = Ipv6Packet::new_checked(&buf[14..len]).unwrap();
        assert_eq!((ip.dst_addr(), ip.hop_limit()), (g, 1));
        let ext = Ipv6ExtHeader::new_checked(ip.payload()).unwrap();
        assert_eq!(ext.payload()[..4], [5, 2, 0, 0], "Router Alert: MLD");
        let m = &ip.payload()[8..];
        assert_eq!(m[..2], [REPORT_V1, 0]);
        assert_eq!(m[4..8], [0; 4]);
        assert_eq!(m[8..], g.octets());
        let pseudo = checksum::pseudo_header_v6(Ipv6Addr::UNSPECIFIED, g, 58, 24);
        assert_eq!(
            checksum::fold(checksum::combine(pseudo, checksum::sum(m))),
            0xffff
        );
    }

    /// From the NIC's link-local address when it has one, as the kernel's
    /// `mld_newpack` and `igmp6_send` send them: both versions carry it as
    /// their source and their checksum covers it (the pseudo-header);
    /// everything else is as from `::`.
    #[test]
    fn reports_come_from_the_link_local_address() {
        let g: Ipv6Addr = "ff02::1:ff00:110".parse().unwrap();
        let v2 = |src| {
            let mut buf = [0u8; REPORT_FRAME_MAX];
            let len = emit_report(&mut buf, (MAC, src), record::MODE_IS_EXCLUDE, &[g]).unwrap();
            buf[..len].to_vec()
        };
        let v1 = |src| {
            let mut buf = [0u8; REPORT_V1_FRAME];
            let len = emit_report_v1(&mut buf, (MAC, src), g).unwrap();
            buf[..len].to_vec()
        };
        for (f, any, dst) in [(v2(LL), v2(ANY), ALL_MLDV2_ROUTERS), (v1(LL), v1(ANY), g)] {
            let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
            assert_eq!((ip.src_addr(), ip.dst_addr(), ip.hop_limit()), (LL, dst, 1));
            let ext = Ipv6ExtHeader::new_checked(ip.payload()).unwrap();
            assert_eq!(ext.payload()[..4], [5, 2, 0, 0], "Router Alert: MLD");
            // The message sums to all ones over the pseudo-header with its
            // source, not over `::`'s.
            let m = &ip.payload()[8..];
            let sums = |src| {
                let pseudo = checksum::pseudo_header_v6(src, dst, 58, m.len() as u32);
                checksum::fold(checksum::combine(pseudo, checksum::sum(m)))
            };
            assert_eq!((sums(LL) == 0xffff, sums(ANY) == 0xffff), (true, false));
            // Only the source and the checksum differ from `::`'s.
            let differ: Vec<usize> = (0..f.len()).filter(|&i| f[i] != any[i]).collect();
            let (src_at, sum_at) = (14 + 8..14 + 24, 14 + 48 + 2..14 + 48 + 4);
            assert!(
                differ
                    .iter()
                    .all(|i| src_at.contains(i) || sum_at.contains(i)),
                "{differ:?}"
            );
            let any_ip = Ipv6Packet::new_checked(&any[14..]).unwrap();
            assert_eq!(any_ip.src_addr(), ANY);
            let m = &any_ip.payload()[8..];
            let pseudo = checksum::pseudo_header_v6(ANY, dst, 58, m.len() as u32);
            let sum = checksum::fold(checksum::combine(pseudo, checksum::sum(m)));
            assert_eq!(sum, 0xffff);
        }
    }

    #[test]
    fn too_many_groups_or_too_short_a_buffer_is_none() {
        let many: Vec<Ipv6Addr> = (0..=RECORDS_PER_REPORT as u16)
            .map(|i| Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, i))
            .collect();
        let mut buf = [0u8; REPORT_FRAME_MAX];
        assert!(emit_report(&mut buf, (MAC, ANY), record::MODE_IS_EXCLUDE, &many).is_none());
        let len = emit_report(&mut buf, (MAC, ANY), 2, &many[1..]).unwrap();
        assert_eq!(len, REPORT_FRAME_MAX);
        assert!(len - 14 <= ipv6::MIN_MTU);
        assert!(emit_report(&mut buf[..100], (MAC, ANY), 2, &many[..3]).is_none());
    }
}
