//! MLDv2 listener reports (RFC 3810 §5.2): how the director tells the link's
//! snooping switches which multicast groups it listens to. A node must join
//! the solicited-node group of each of its addresses (RFC 4861 §7.2.1) and
//! report it, or a switch with MLD snooping (RFC 4541) forwards neighbor
//! solicitations for a VIP or the DIP to no port of the director. Linux does
//! it for its own addresses (`addrconf_join_solict`, `igmp6_join_group`);
//! the director's kernel has IPv6 off, so ringvs reports its groups itself.
//!
//! A report goes to all MLDv2 routers (ff02::16) with hop limit 1 and the
//! hop-by-hop Router Alert option (RFC 2711, value 0: MLD), from the
//! unspecified address, as RFC 3810 §5.2.13 allows for a node without a
//! link-local address (the director has none: ringvs answers for the VIPs
//! and DIPs only) and as snooping switches accept (Linux's
//! `ipv6_mc_check_mld` checks a query's source, not a report's). Each group
//! is one record without sources: `EXCLUDE {}`, i.e. every source.

use super::checksum;
use super::ipv6::{self, Endpoints, next_header};
use super::{Mac, ethernet, icmpv6};
use std::net::Ipv6Addr;

/// All MLDv2-capable routers (RFC 3810 §5.2.14).
pub const ALL_MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);
/// ICMPv6 type of an MLDv2 report.
pub const REPORT_V2: u8 = 143;
/// ICMPv6 type of a multicast listener query (v1 and v2).
pub const QUERY: u8 = 130;

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

/// Writes an Ethernet frame with an MLDv2 report from `mac` of `groups`
/// (at most [`RECORDS_PER_REPORT`]), each a record of `kind` ([`record`])
/// with no source, and returns its length. `None` if `buf` is too short or
/// there are too many groups.
pub fn emit_report(buf: &mut [u8], mac: Mac, kind: u8, groups: &[Ipv6Addr]) -> Option<usize> {
    if groups.len() > RECORDS_PER_REPORT {
        return None;
    }
    let icmp_len = REPORT_HEADER + groups.len() * RECORD_LEN;
    let ends = Endpoints {
        src_mac: mac,
        dst_mac: ipv6::multicast_mac(ALL_MLDV2_ROUTERS),
        src: Ipv6Addr::UNSPECIFIED,
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
        let len = emit_report(&mut buf, MAC, record::CHANGE_TO_EXCLUDE, &groups).unwrap();
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

    #[test]
    fn too_many_groups_or_too_short_a_buffer_is_none() {
        let many: Vec<Ipv6Addr> = (0..=RECORDS_PER_REPORT as u16)
            .map(|i| Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, i))
            .collect();
        let mut buf = [0u8; REPORT_FRAME_MAX];
        assert!(emit_report(&mut buf, MAC, record::MODE_IS_EXCLUDE, &many).is_none());
        let len = emit_report(&mut buf, MAC, 2, &many[1..]).unwrap();
        assert_eq!(len, REPORT_FRAME_MAX);
        assert!(len - 14 <= ipv6::MIN_MTU);
        assert!(emit_report(&mut buf[..100], MAC, 2, &many[..3]).is_none());
    }
}
