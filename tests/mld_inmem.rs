//! MLD queries, in memory: a worker checks a query (`wire::mld::parse_query`)
//! and passes one about our groups to the control thread
//! (`NeighEvent::MldQuery`, counted `mld_query`), whose announcer answers it
//! at a random moment within the query's maximum response delay
//! (`Announcer::queried`) with the reports `wire::mld::answer` writes. The
//! control thread's own steps (`control/neigh.rs`: the groups of our
//! addresses on the NIC, its 20 ms loop) are replayed here.

mod inmem;

use inmem::frames6::{self, Ext, L3};
use inmem::*;
use ringvs::Nic;
use ringvs::control::send_mld;
use ringvs::neigh::{Announce, Announcer, NeighEvent};
use ringvs::stats::{Counters, Ctr};
use ringvs::wire::mld;
use smoltcp::wire::{Ipv6ExtHeader, Ipv6Packet, MldAddressRecord, MldRecordType};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

const ROUTER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const ROUTER_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 1];
const VIP6B: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x111);
const ALL_ROUTERS_V2: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);
/// The external NIC's kernel link-local address.
const EXT_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0xee, 0xff, 0xfe00, 1);

/// The source of our reports on `nic` (`io::nic::link_local6`, as the
/// control thread reads it): the external NIC has a link-local address,
/// the internal one none (IPv6 off in its kernel, or its address still
/// tentative), whose reports come from `::`.
fn src_of(nic: Nic) -> Ipv6Addr {
    match nic {
        Nic::Ext => EXT_LL,
        Nic::Int => Ipv6Addr::UNSPECIFIED,
    }
}

/// Two IPv6 VIPs, the external address and the DIP: four groups.
fn director() -> MemDirector {
    MemDirector::dual_stack(&[
        "-A -t [2001:2:0:1::110]:80 -s rr",
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:80 -m",
        "-A -t [2001:2:0:1::111]:80 -s rr",
        "-a -t [2001:2:0:1::111]:80 -r [2001:2:0:2::2]:80 -m",
    ])
}

/// The solicited-node groups of our addresses on `nic`, as the control
/// thread reads them (`Resolver::groups`).
fn groups(nic: Nic) -> Vec<Ipv6Addr> {
    match nic {
        Nic::Ext => mld::groups_of([EXT_ADDR6, VIP6, VIP6B]),
        Nic::Int => mld::groups_of([DIP6]),
    }
}

/// The parts of a query that its tests change.
#[derive(Clone)]
struct Q {
    dst: Ipv6Addr,
    group: Ipv6Addr,
    /// Maximum Response Code (v2) or Delay (v1).
    code: u16,
    /// MLDv2 with these sources; `None`: MLDv1 (24 bytes).
    v2: Option<Vec<Ipv6Addr>>,
    src: Ipv6Addr,
    hop_limit: u8,
    /// The hop-by-hop header's options (8 bytes with the next header and
    /// length), or none.
    hbh: Option<[u8; 6]>,
    /// MLDv2: the QRV and QQIC bytes.
    qrv_qqic: [u8; 2],
}

/// Router Alert, value 0 (MLD), then PadN.
const RA_MLD: [u8; 6] = [5, 2, 0, 0, 1, 0];

impl Q {
    fn general(code: u16) -> Q {
        Q {
            dst: frames6::ALL_NODES,
            group: Ipv6Addr::UNSPECIFIED,
            code,
            v2: Some(vec![]),
            src: ROUTER_LL,
            hop_limit: 1,
            hbh: Some(RA_MLD),
            qrv_qqic: [2, 125],
        }
    }

    /// About `group`, sent to it.
    fn about(group: Ipv6Addr, code: u16) -> Q {
        Q {
            dst: group,
            group,
            ..Q::general(code)
        }
    }

    fn v1(self) -> Q {
        Q { v2: None, ..self }
    }

    /// The ICMPv6 message, its checksum right.
    fn message(&self) -> Vec<u8> {
        let mut m = vec![mld::QUERY, 0, 0, 0];
        m.extend(self.code.to_be_bytes());
        m.extend([0, 0]);
        m.extend(self.group.octets());
        if let Some(srcs) = &self.v2 {
            // S clear, QRV and QQIC (2 and 125 s unless said).
            m.extend(self.qrv_qqic);
            m.extend((srcs.len() as u16).to_be_bytes());
            for s in srcs {
                m.extend(s.octets());
            }
        }
        let c = frames6::checksum6(self.src, self.dst, frames6::ICMPV6, &m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        m
    }

    fn frame_of(&self, m: &[u8]) -> Vec<u8> {
        let l3 = L3 {
            src_mac: ROUTER_MAC,
            dst_mac: frames6::multicast_mac(self.dst),
            src: self.src,
            dst: self.dst,
            hop_limit: self.hop_limit,
        };
        match self.hbh {
            Some(opts) => {
                let mut l4 = vec![frames6::ICMPV6, 0];
                l4.extend(opts);
                l4.extend(m);
                frames6::frame(&l3, &[], frames6::HOP_BY_HOP, &l4)
            }
            None => frames6::frame(&l3, &[], frames6::ICMPV6, m),
        }
    }

    fn frame(&self) -> Vec<u8> {
        self.frame_of(&self.message())
    }
}

/// A report the director sent, as read back: the NIC, when (after the
/// query), its Ethernet and IPv6 destinations, and its records (MLDv2:
/// type and group; MLDv1: the group, type 0).
#[derive(Debug)]
struct Sent {
    nic: Nic,
    after: Duration,
    dst_mac: [u8; 6],
    dst: Ipv6Addr,
    v1: bool,
    records: Vec<(u8, Ipv6Addr)>,
}

/// Read a report frame, checking what every report must be: from our MAC
/// and the NIC's link-local address or `::` ([`src_of`]), hop limit 1, a
/// Router Alert (MLD), a good checksum (over the pseudo-header with that
/// source).
/// The external NIC's records among `sent`, as (MLDv1, group), sorted.
fn ext_records(sent: &[Sent]) -> Vec<(bool, Ipv6Addr)> {
    let mut v: Vec<_> = sent
        .iter()
        .filter(|s| s.nic == Nic::Ext)
        .flat_map(|s| s.records.iter().map(|r| (s.v1, r.1)))
        .collect();
    v.sort();
    v
}

fn read(nic: Nic, after: Duration, f: &[u8]) -> Sent {
    let mac = match nic {
        Nic::Ext => EXT_MAC,
        Nic::Int => INT_MAC,
    };
    assert_eq!(f[6..12], mac);
    let ip = Ipv6Packet::new_checked(&f[14..]).expect("ipv6");
    assert_eq!((ip.src_addr(), ip.hop_limit()), (src_of(nic), 1));
    let ext = Ipv6ExtHeader::new_checked(ip.payload()).expect("hop-by-hop");
    assert_eq!(ext.payload()[..4], [5, 2, 0, 0], "Router Alert: MLD");
    let body = &ip.payload()[8..];
    let mut zero = body.to_vec();
    zero[2..4].fill(0);
    let sum = frames6::checksum6(ip.src_addr(), ip.dst_addr(), frames6::ICMPV6, &zero);
    assert_eq!(body[2..4], sum.to_be_bytes(), "the checksum");
    let (v1, records) = match body[0] {
        mld::REPORT_V2 => {
            let n = usize::from(u16::from_be_bytes([body[6], body[7]]));
            let recs = body[8..]
                .chunks_exact(20)
                .map(|r| {
                    let r = MldAddressRecord::new_checked(r).expect("record");
                    assert_eq!((r.num_srcs(), r.aux_data_len()), (0, 0));
                    (u8::from(r.record_type()), r.mcast_addr())
                })
                .collect::<Vec<_>>();
            assert_eq!(recs.len(), n);
            (false, recs)
        }
        mld::REPORT_V1 => {
            assert_eq!(body.len(), 24);
            let g: [u8; 16] = body[8..24].try_into().expect("16 bytes");
            (true, vec![(0, Ipv6Addr::from(g))])
        }
        t => panic!("not a report: type {t}"),
    };
    Sent {
        nic,
        after,
        dst_mac: f[..6].try_into().expect("6 bytes"),
        dst: ip.dst_addr(),
        v1,
        records,
    }
}

/// What the control thread does with the events the workers sent since
/// the last call, at `t0`: schedule the answers (`seed` seeds their
/// delays), then send them as its 20 ms loop finds them due, for `until`.
fn answers(d: &MemDirector, t0: Instant, until: Duration, seed: u64) -> Vec<Sent> {
    let mut a = Announcer::new();
    let mut s = seed | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for ev in d.neigh_events() {
        if let NeighEvent::MldQuery { nic, query } = ev {
            a.queried((nic, query), &groups(nic), t0, &mut rnd);
        }
    }
    let mut ctr = Counters::default();
    let sent = replay(&mut a, t0, (Duration::ZERO, until), &mut ctr);
    assert!(a.is_idle(), "every answer went");
    assert_eq!(ctr.get(Ctr::MldReport), sent.len() as u64);
    sent
}

/// What the control thread's 20 ms loop sends of what `a` finds due from
/// `t0 + from` to `t0 + until`: the MLD reports of each announcement on
/// each NIC (`send_mld`; gratuitous ARP and advertisements are not
/// replayed), counted in `ctr`.
fn replay(
    a: &mut Announcer,
    t0: Instant,
    (from, until): (Duration, Duration),
    ctr: &mut Counters,
) -> Vec<Sent> {
    let mut sent = vec![];
    let mut out = vec![];
    for ms in (from.as_millis() as u64..=until.as_millis() as u64).step_by(20) {
        let after = Duration::from_millis(ms);
        a.due(t0 + after, &mut out);
        for what in out.drain(..) {
            for nic in [Nic::Ext, Nic::Int] {
                let mac = ringvs::wire::Mac(match nic {
                    Nic::Ext => EXT_MAC,
                    Nic::Int => INT_MAC,
                });
                let v1 = a.mld_v1(nic, t0 + after);
                send_mld(
                    what,
                    (nic, (mac, src_of(nic)), v1),
                    &groups(nic),
                    ctr,
                    |f| {
                        sent.push(read(nic, after, f));
                        true
                    },
                );
            }
        }
    }
    sent
}

/// `frame` on `nic`: nothing goes out at once.
fn quiet(d: &mut MemDirector, nic: Nic, frame: &[u8]) {
    let (ext, int) = match nic {
        Nic::Ext => d.ext(frame),
        Nic::Int => d.int(frame),
    };
    assert!(ext.is_empty() && int.is_empty(), "{ext:02x?} {int:02x?}");
}

/// RFC 3810 §6.2, as the kernel's `mld_gq_start_work`: a general query is
/// answered by one report of every group of ours on the NIC (current
/// state, every source), at a random moment within the delay its Maximum
/// Response Code says, never at once in a burst.
#[test]
fn a_general_query_is_answered_with_our_groups_within_its_delay() {
    let t0 = Instant::now();
    let mut times = std::collections::BTreeSet::new();
    for seed in 0..12u64 {
        let mut d = director();
        // 1000 ms.
        quiet(&mut d, Nic::Ext, &Q::general(1000).frame());
        assert_eq!(d.ctr(Ctr::MldQuery), 1);
        assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));
        let sent = answers(&d, t0, Duration::from_secs(3), seed);
        assert_eq!(sent.len(), 1, "{sent:?}");
        let s = &sent[0];
        assert!(s.after <= Duration::from_millis(1000), "{s:?}");
        assert_eq!((s.nic, s.dst, s.v1), (Nic::Ext, ALL_ROUTERS_V2, false));
        assert_eq!(s.dst_mac, [0x33, 0x33, 0, 0, 0, 0x16]);
        let is_ex = u8::from(MldRecordType::ModeIsExclude);
        let want: Vec<(u8, Ipv6Addr)> = groups(Nic::Ext).into_iter().map(|g| (is_ex, g)).collect();
        assert_eq!(want.len(), 3);
        assert_eq!(s.records, want);
        times.insert(s.after);
    }
    assert!(times.len() >= 6, "random moments, not one: {times:?}");

    // On the internal NIC, the DIP's group; a Maximum Response Code of
    // 0x8002 is (0x1002 << 3) ms: 32.784 s, not 32 ms.
    let mut d = director();
    quiet(&mut d, Nic::Int, &Q::general(0x8002).frame());
    let sent = answers(&d, t0, Duration::from_secs(40), 7);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].records, [(2, frames6::solicited_node(DIP6))]);
    assert!(sent[0].after <= Duration::from_millis(32_784));
    assert!(sent[0].after > Duration::from_millis(32), "{sent:?}");
}

/// A query about one of our groups (sent to that group) is answered about
/// it alone; an MLDv1 one (24 bytes) by an MLDv1 report to the group, as
/// the kernel answers in MLDv1 mode (`igmp6_send`).
#[test]
fn a_query_about_one_of_our_groups_is_answered_about_it() {
    let t0 = Instant::now();
    let g = frames6::solicited_node(VIP6B);
    let mut d = director();
    quiet(&mut d, Nic::Ext, &Q::about(g, 500).frame());
    let sent = answers(&d, t0, Duration::from_secs(1), 3);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].dst, sent[0].v1), (ALL_ROUTERS_V2, false));
    assert_eq!(sent[0].records, [(2, g)]);
    assert!(sent[0].after <= Duration::from_millis(500));

    quiet(&mut d, Nic::Ext, &Q::about(g, 2000).v1().frame());
    let sent = answers(&d, t0, Duration::from_secs(3), 4);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].dst, sent[0].dst_mac, sent[0].v1),
        (g, frames6::multicast_mac(g), true)
    );
    assert_eq!(sent[0].records, [(0, g)]);
    assert!(sent[0].after <= Duration::from_millis(2000));

    // An MLDv1 general query: a report per group, each at its own moment.
    quiet(&mut d, Nic::Ext, &Q::general(5000).v1().frame());
    let sent = answers(&d, t0, Duration::from_secs(6), 5);
    let mut got: Vec<Ipv6Addr> = sent.iter().map(|s| s.records[0].1).collect();
    got.sort();
    let mut want = groups(Nic::Ext);
    want.sort();
    assert_eq!(got, want);
    assert!(
        sent.iter()
            .all(|s| s.v1 && s.after <= Duration::from_secs(5))
    );
    let at: std::collections::BTreeSet<_> = sent.iter().map(|s| s.after).collect();
    assert!(at.len() > 1, "not one burst: {sent:?}");
    assert_eq!(d.ctr(Ctr::MldQuery), 3);
}

/// A query about a group that is not ours (another host's, or our DIP's
/// asked on the external NIC) gets nothing.
#[test]
fn a_query_about_another_group_gets_nothing() {
    let t0 = Instant::now();
    let mut d = director();
    let theirs = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff12, 0x3456);
    quiet(&mut d, Nic::Ext, &Q::about(theirs, 500).frame());
    quiet(&mut d, Nic::Ext, &Q::about(theirs, 500).v1().frame());
    quiet(
        &mut d,
        Nic::Ext,
        &Q::about(frames6::solicited_node(DIP6), 500).frame(),
    );
    assert_eq!(d.ctr(Ctr::MldQuery), 0);
    assert_eq!(d.ctr(Ctr::DropNotForUs), 3);
    assert!(answers(&d, t0, Duration::from_secs(1), 1).is_empty());
}

/// RFC 3810 §6.2 and §5.1, as the kernel's `__mld_query_work` checks a
/// query: each refused one is a `drop_mld`, and nothing is answered.
#[test]
fn malformed_queries_are_counted_drops() {
    let t0 = Instant::now();
    let good = Q::general(1000);
    let g = frames6::solicited_node(VIP6);
    let mut bad_sum = good.message();
    bad_sum[2] ^= 0xff;
    let mut short = good.message();
    short.truncate(26);
    let c = frames6::checksum6(ROUTER_LL, frames6::ALL_NODES, frames6::ICMPV6, &{
        let mut z = short.clone();
        z[2..4].fill(0);
        z
    });
    short[2..4].copy_from_slice(&c.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a global source",
            Q {
                src: EXT_ADDR6,
                ..good.clone()
            }
            .frame(),
        ),
        (
            "hop limit 2",
            Q {
                hop_limit: 2,
                ..good.clone()
            }
            .frame(),
        ),
        (
            "no hop-by-hop header",
            Q {
                hbh: None,
                ..good.clone()
            }
            .frame(),
        ),
        (
            "no Router Alert",
            Q {
                hbh: Some([1, 4, 0, 0, 0, 0]),
                ..good.clone()
            }
            .frame(),
        ),
        (
            "a Router Alert not for MLD",
            Q {
                hbh: Some([5, 2, 0, 1, 1, 0]),
                ..good.clone()
            }
            .frame(),
        ),
        ("a wrong checksum", good.frame_of(&bad_sum)),
        ("26 bytes", good.frame_of(&short)),
        (
            "a unicast group",
            Q {
                group: VIP6,
                ..good.clone()
            }
            .frame(),
        ),
        (
            "a general query naming a source",
            Q {
                v2: Some(vec![CLIENT6]),
                ..good.clone()
            }
            .frame(),
        ),
        ("sources cut off", {
            let q = Q {
                v2: Some(vec![CLIENT6, CLIENT6]),
                ..Q::about(g, 1000)
            };
            let mut m = q.message();
            m.truncate(m.len() - 16);
            m[2..4].fill(0);
            let c = frames6::checksum6(ROUTER_LL, g, frames6::ICMPV6, &m);
            m[2..4].copy_from_slice(&c.to_be_bytes());
            q.frame_of(&m)
        }),
    ];
    let mut d = director();
    for (i, (why, f)) in cases.iter().enumerate() {
        quiet(&mut d, Nic::Ext, f);
        assert_eq!(
            d.ctr(Ctr::DropMld),
            i as u64 + 1,
            "{why}: {:?}",
            drops(&d.w().core.ctr)
        );
    }
    assert_eq!(d.ctr(Ctr::MldQuery), 0);
    assert!(d.neigh_events().is_empty());
    assert!(answers(&d, t0, Duration::from_secs(2), 1).is_empty());
    // The same query well made is taken (the cases differ by their fault
    // alone), with a source when it asks about a group.
    quiet(&mut d, Nic::Ext, &good.frame());
    let with_source = Q {
        v2: Some(vec![CLIENT6]),
        ..Q::about(g, 1000)
    };
    quiet(&mut d, Nic::Ext, &with_source.frame());
    assert_eq!(d.ctr(Ctr::MldQuery), 2);
    // (`Ext::HopByHop` is PadN alone: no Router Alert either.)
    let l3 = L3 {
        src_mac: ROUTER_MAC,
        dst_mac: frames6::ALL_NODES_MAC,
        src: ROUTER_LL,
        dst: frames6::ALL_NODES,
        hop_limit: 1,
    };
    quiet(
        &mut d,
        Nic::Ext,
        &frames6::frame(&l3, &[Ext::HopByHop], frames6::ICMPV6, &good.message()),
    );
    assert_eq!(d.ctr(Ctr::DropMld), cases.len() as u64 + 1);
}

/// A standby answers no query (its addresses are the active director's).
#[test]
fn a_standby_answers_no_query() {
    let mut d = director();
    d.shared.ha.set_standby(true);
    d.shared.bump();
    quiet(&mut d, Nic::Ext, &Q::general(1000).frame());
    assert_eq!(d.ctr(Ctr::DropStandby), 1);
    assert!(d.neigh_events().is_empty());
}

/// Every MLD report the control thread sends counts in `mld_report`, one per
/// frame: the unsolicited ones of becoming active (a report per NIC), the
/// periodic ones 60 s later, and the answers to queries (an MLDv1 general
/// query on the external NIC: one report per group).
#[test]
fn every_report_sent_is_counted() {
    let t0 = Instant::now();
    let mut ctr = Counters::default();
    let mut a = Announcer::new();
    a.activated(t0);
    let mut out = vec![];
    a.due(t0, &mut out);
    assert_eq!(out, [Announce::Own4, Announce::Own6]);
    // What `a` found due at once went with `Own4` (no report); `Own6` now,
    // through a TX ring that takes the frames (`room`) or has no room.
    let own6 = |nic: Nic, ctr: &mut Counters, room: bool| {
        let mac = ringvs::wire::Mac(match nic {
            Nic::Ext => EXT_MAC,
            Nic::Int => INT_MAC,
        });
        let mut sent = vec![];
        let from = (mac, src_of(nic));
        send_mld(Announce::Own6, (nic, from, false), &groups(nic), ctr, |f| {
            sent.push(read(nic, Duration::ZERO, f));
            room
        });
        sent.len()
    };
    assert_eq!(
        own6(Nic::Ext, &mut ctr, true) + own6(Nic::Int, &mut ctr, true),
        2
    );
    assert_eq!(ctr.get(Ctr::MldReport), 2);
    // A report the TX ring had no room for is not counted as sent.
    let tried = own6(Nic::Ext, &mut ctr, false);
    assert_eq!((tried, ctr.get(Ctr::MldReport)), (1, 2));
    // The two later rounds of advertisements, then the periodic reports.
    let sent = replay(
        &mut a,
        t0,
        (Duration::from_millis(20), Duration::from_secs(61)),
        &mut ctr,
    );
    let change = u8::from(MldRecordType::ChangeToExclude);
    let is_ex = u8::from(MldRecordType::ModeIsExclude);
    let kinds: Vec<(Nic, u8)> = sent.iter().map(|s| (s.nic, s.records[0].0)).collect();
    assert_eq!(
        kinds,
        [Nic::Ext, Nic::Int, Nic::Ext, Nic::Int]
            .into_iter()
            .zip([change, change, change, change])
            .chain([(Nic::Ext, is_ex), (Nic::Int, is_ex)])
            .collect::<Vec<_>>()
    );
    assert_eq!(ctr.get(Ctr::MldReport), 8);

    // An MLDv1 general query: three MLDv1 reports.
    let mut d = director();
    quiet(&mut d, Nic::Ext, &Q::general(1000).v1().frame());
    let sent = answers(&d, t0, Duration::from_secs(2), 9);
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|s| s.v1));
}

/// RFC 3810 §8.2.1, as the kernel's `mld_process_v1` and `mld_in_v1_mode`:
/// an MLDv1 query puts the NIC in MLDv1 compatibility mode for robustness ×
/// query interval + query response interval, as the last MLDv2 query gave
/// them (here QRV 3, QQIC 20 s, 5 s: 65 s); meanwhile every report there,
/// periodic, for a new VIP or an answer (an MLDv2 query's too), is an
/// MLDv1 report of each group, then MLDv2 again. The other NIC stays
/// MLDv2. Time is injected: no sleep.
#[test]
fn an_mldv1_querier_has_the_reports_sent_as_mldv1_until_its_timeout() {
    let t0 = Instant::now();
    let secs = Duration::from_secs;
    let mut d = director();
    let mut a = Announcer::new();
    a.activated(t0);
    let mut ctr = Counters::default();
    let mut s = 0x5eed_u64;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut hear = |d: &mut MemDirector, a: &mut Announcer, q: Q, at: Duration| {
        quiet(d, Nic::Ext, &q.frame());
        for ev in d.neigh_events() {
            if let NeighEvent::MldQuery { nic, query } = ev {
                a.queried((nic, query), &groups(nic), t0 + at, &mut rnd);
            }
        }
    };
    let ext = ext_records;
    let v1_all: Vec<(bool, Ipv6Addr)> = {
        let mut g: Vec<_> = groups(Nic::Ext).into_iter().map(|g| (true, g)).collect();
        g.sort();
        g
    };
    // An MLDv2 querier: QRV 3, QQIC 20 s, Maximum Response Code 5 s.
    let v2 = Q {
        qrv_qqic: [3, 20],
        ..Q::general(5000)
    };
    hear(&mut d, &mut a, v2, Duration::ZERO);
    let sent = replay(&mut a, t0, (Duration::ZERO, secs(6)), &mut ctr);
    assert!(sent.iter().all(|s| !s.v1), "{sent:?}");
    assert_eq!(sent.len(), 7, "3 rounds on both NICs, one answer: {sent:?}");

    // An MLDv1 general query at 10 s: 65 s of MLDv1 on the external NIC.
    hear(&mut d, &mut a, Q::general(1000).v1(), secs(10));
    assert!(a.mld_v1(Nic::Ext, t0 + secs(75) - Duration::from_millis(1)));
    assert!(!a.mld_v1(Nic::Ext, t0 + secs(75)));
    assert!(!a.mld_v1(Nic::Int, t0 + secs(10)));
    let sent = replay(&mut a, t0, (secs(10), secs(12)), &mut ctr);
    assert_eq!(ext(&sent), v1_all);
    // A VIP added at 30 s: its three rounds in MLDv1, a report per group.
    a.vip_added(std::net::IpAddr::V6(VIP6B), t0 + secs(30));
    let sent = replay(&mut a, t0, (secs(30), secs(33)), &mut ctr);
    assert_eq!(sent.len(), 9, "{sent:?}");
    assert!(sent.iter().all(|s| s.v1 && s.dst == s.records[0].1));
    // An MLDv2 query meanwhile is answered in MLDv1 too.
    hear(&mut d, &mut a, Q::general(1000), secs(40));
    let sent = replay(&mut a, t0, (secs(40), secs(42)), &mut ctr);
    assert_eq!(ext(&sent), v1_all);
    // The periodic reports at 60 s: MLDv1 outside, MLDv2 inside.
    let sent = replay(&mut a, t0, (secs(59), secs(61)), &mut ctr);
    assert_eq!(ext(&sent), v1_all);
    let int: Vec<_> = sent.iter().filter(|s| s.nic == Nic::Int).collect();
    assert_eq!(int.len(), 1);
    assert!(!int[0].v1);
    // Past 75 s, MLDv2 again: the periodic reports at 120 s.
    let sent = replay(&mut a, t0, (secs(119), secs(121)), &mut ctr);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|s| !s.v1 && s.dst == ALL_ROUTERS_V2));
    assert_eq!(ext(&sent).len(), 3);
    assert!(a.is_idle());
}

/// In MLDv1 compatibility mode every query of 24 bytes or more is read as
/// MLDv1, as the kernel's `__mld_query_work` hands it to `mld_process_v1`
/// (`mld_in_v1_mode`) before any MLDv2 check: an MLDv2 general query
/// naming sources, or one cut to 26 bytes, is answered there (an MLDv1
/// report of each group, within its delay), where MLDv2 mode drops it
/// (`drop_mld`). The workers read the mode the control thread publishes
/// (`Shared::mld_v1`); one such query reaching the announcer after the
/// mode ended gets no answer.
#[test]
fn in_mldv1_mode_a_query_no_mldv2_host_takes_is_answered_as_mldv1() {
    let t0 = Instant::now();
    let secs = Duration::from_secs;
    let mut d = director();
    let mut a = Announcer::new();
    let mut ctr = Counters::default();
    let mut s = 0xfeed_u64;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    // What the control thread does with a query heard at `at`: schedule
    // its answer, then publish the NICs' mode for the workers.
    let mut hear = |d: &mut MemDirector, a: &mut Announcer, f: &[u8], at: Duration| {
        quiet(d, Nic::Ext, f);
        for ev in d.neigh_events() {
            if let NeighEvent::MldQuery { nic, query } = ev {
                a.queried((nic, query), &groups(nic), t0 + at, &mut rnd);
            }
        }
        for nic in [Nic::Ext, Nic::Int] {
            let v1 = a.mld_v1(nic, t0 + at);
            d.shared.mld_v1[nic as usize].store(v1, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let with_sources = Q {
        v2: Some(vec![CLIENT6, ROUTER_LL]),
        ..Q::general(1000)
    }
    .frame();
    let mut cut = Q::general(1000).message();
    cut.truncate(26);
    let c = frames6::checksum6(ROUTER_LL, frames6::ALL_NODES, frames6::ICMPV6, &{
        let mut z = cut.clone();
        z[2..4].fill(0);
        z
    });
    cut[2..4].copy_from_slice(&c.to_be_bytes());
    let cut = Q::general(1000).frame_of(&cut);
    let v1_all: Vec<(bool, Ipv6Addr)> = {
        let mut g: Vec<_> = groups(Nic::Ext).into_iter().map(|g| (true, g)).collect();
        g.sort();
        g
    };
    let ext = ext_records;

    // MLDv2 mode: both refused.
    hear(&mut d, &mut a, &with_sources, Duration::ZERO);
    hear(&mut d, &mut a, &cut, Duration::ZERO);
    assert_eq!((d.ctr(Ctr::DropMld), d.ctr(Ctr::MldQuery)), (2, 0));
    assert!(a.is_idle());

    // An MLDv1 querier at 1 s (answered by 2 s): MLDv1 mode.
    hear(&mut d, &mut a, &Q::general(1000).v1().frame(), secs(1));
    assert_eq!(d.ctr(Ctr::MldQuery), 1);
    let sent = replay(&mut a, t0, (secs(1), secs(2)), &mut ctr);
    assert_eq!(ext(&sent), v1_all);

    // Each is now a general query, answered by MLDv1 reports of every
    // group within its 1 s.
    for (k, f) in [&with_sources, &cut].into_iter().enumerate() {
        let at = secs(10 + 10 * k as u64);
        hear(&mut d, &mut a, f, at);
        assert_eq!(d.ctr(Ctr::MldQuery), 2 + k as u64, "query {k}");
        let sent = replay(&mut a, t0, (at, at + secs(1)), &mut ctr);
        assert_eq!(ext(&sent), v1_all, "query {k}");
        assert!(sent.iter().all(|s| s.dst == s.records[0].1), "{sent:?}");
    }
    assert_eq!(d.ctr(Ctr::DropMld), 2);

    // A worker that still read MLDv1 mode when it had ended (260 s after
    // the MLDv1 query, RFC 3810 §9's defaults): no answer.
    let late = secs(1) + secs(260);
    quiet(&mut d, Nic::Ext, &with_sources);
    for ev in d.neigh_events() {
        if let NeighEvent::MldQuery { nic, query } = ev {
            assert!(query.v1_mode_only);
            a.queried((nic, query), &groups(nic), t0 + late, &mut || 1);
        }
    }
    assert!(a.is_idle(), "not answered out of MLDv1 mode");
    // Published: refused again.
    d.shared.mld_v1[Nic::Ext as usize].store(
        a.mld_v1(Nic::Ext, t0 + late),
        std::sync::atomic::Ordering::Relaxed,
    );
    hear(&mut d, &mut a, &with_sources, late);
    assert_eq!(d.ctr(Ctr::DropMld), 3);
    assert!(a.is_idle());
}
