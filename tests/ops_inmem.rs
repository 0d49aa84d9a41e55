//! One-packet scheduling (`ipvsadm -o`) through the workers, in memory: each
//! UDP datagram is scheduled on its own and leaves no connection, as IPVS's
//! `IP_VS_CONN_F_ONE_PACKET` connections (`ip_vs_core.c`, `ip_vs_conn.c`);
//! the real servers' replies are translated back without one (a deliberate
//! difference: IPVS lets them out from the real server's address).

mod inmem;

use inmem::frames6;
use inmem::*;
use ringvs::Nic;
use ringvs::config::Proto;
use ringvs::stats::Ctr;
use smoltcp::wire::{Ipv4Packet as SIp, UdpPacket as SUdp};
use std::net::Ipv4Addr;
use std::time::Duration;

/// UDP VIP:53, rr over RS1 and RS2 on port 5353 (RS2 added first: the
/// kernel's list, newest first, meets RS1 first), with the options `opts`.
fn dns(opts: &str) -> Vec<String> {
    vec![
        format!("-A -u 198.18.0.110:53 -s rr {opts}"),
        "-a -u 198.18.0.110:53 -r 198.19.0.3:5353 -m".into(),
        "-a -u 198.18.0.110:53 -r 198.19.0.2:5353 -m".into(),
    ]
}

fn lab(rules: &[String]) -> MemDirector {
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let mut d = MemDirector::new(&rules);
    d.resolve_all();
    d
}

/// The client's datagram from `sport`, as its real server got it.
fn query(d: &mut MemDirector, sport: u16) -> Parsed {
    let (ext, int) = d.ext(&udp_frame(&L3::to_vip(), sport, 53, b"query", true));
    assert!(ext.is_empty());
    assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
    parse_ip(&int[0])
}

/// `rs`'s answer from `rport` to the client's `cport`, as the client got it
/// (`None`: nothing came out).
fn answer(d: &mut MemDirector, rs: Ipv4Addr, rport: u16, cport: u16) -> Option<Parsed> {
    let (ext, int) = d.int(&udp_frame(
        &L3::from_rs(rs, CLIENT),
        rport,
        cport,
        b"answer",
        true,
    ));
    assert!(int.is_empty());
    assert!(ext.len() <= 1);
    ext.first().map(|f| parse_ip(f))
}

#[test]
fn each_datagram_is_scheduled_on_its_own_and_leaves_no_connection() {
    // Without -o, one client port is one connection: every datagram to RS1.
    let mut plain = lab(&dns(""));
    let to: Vec<Ipv4Addr> = (0..4).map(|_| query(&mut plain, 5000).dst).collect();
    assert_eq!(to, [RS1; 4]);
    assert_eq!(plain.w().core.table.len(), 1);

    let mut d = lab(&dns("-o"));
    let got: Vec<Parsed> = (0..4).map(|_| query(&mut d, 5000)).collect();
    let to: Vec<(Ipv4Addr, u16)> = got.iter().map(|p| (p.dst, p.dport)).collect();
    assert_eq!(
        to,
        [(RS1, 5353), (RS2, 5353), (RS1, 5353), (RS2, 5353)],
        "rr per datagram"
    );
    for p in &got {
        // parse_ip verified the IP and UDP checksums.
        assert_eq!((p.src, p.sport, p.ttl), (CLIENT, 5000, 63));
        assert_eq!(p.payload, b"query");
    }
    assert!(d.w().core.table.is_empty(), "no connection kept");
    assert!(d.conns(0).is_empty(), "nothing for ipvsadm -L -c");
    assert_eq!(d.ctr(Ctr::ConnNew), 0);
    assert_eq!((d.ctr(Ctr::OpsScheduled), d.ctr(Ctr::FwdIn)), (4, 4));
    // Each datagram is one connection of its server in --stats, as IPVS's
    // `ip_vs_conn_stats` counts every one-packet connection.
    let id1 = d.dest_id(Proto::Udp, 53, RS1, 5353);
    let id2 = d.dest_id(Proto::Udp, 53, RS2, 5353);
    d.poll();
    let (s1, s2) = (
        d.published[0].dest_stats(id1),
        d.published[0].dest_stats(id2),
    );
    assert_eq!((s1.conns, s1.inpkts, s2.conns, s2.inpkts), (2, 2, 2, 2));
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));
}

#[test]
fn replies_leave_from_the_vip_without_a_connection() {
    let mut d = lab(&dns("-o"));
    assert_eq!(query(&mut d, 5000).dst, RS1);
    assert_eq!(query(&mut d, 5000).dst, RS2);
    for rs in [RS1, RS2] {
        let a = answer(&mut d, rs, 5353, 5000).expect("the answer goes out");
        assert_eq!(
            (a.src, a.sport, a.dst, a.dport),
            (VIP, 53, CLIENT, 5000),
            "from the VIP, as the client asked"
        );
        assert_eq!((a.src_mac, a.dst_mac, a.ttl), (EXT_MAC, CLIENT_MAC, 63));
        assert_eq!(a.payload, b"answer");
    }
    assert_eq!(d.ctr(Ctr::FwdOut), 2);
    assert!(d.w().core.table.is_empty());
    // From another port of the server, or a server of no -o service: no
    // connection, dropped as before.
    assert!(answer(&mut d, RS1, 5354, 5000).is_none());
    assert_eq!(d.ctr(Ctr::DropNoConn), 1);
    let mut plain = lab(&dns(""));
    assert!(answer(&mut plain, RS1, 5353, 5000).is_none());
    assert_eq!(plain.ctr(Ctr::DropNoConn), 1);
}

/// A firewall-mark service with a UDP rule whose server port is also a `-o`
/// service's: a reply of no connection from it may be the mark service's
/// late one, so it is ambiguous as between two address services (the
/// kernel's `ip_vs_find_real_service`, `ip_vs_ctl.c`, finds a mark
/// service's dest whatever the protocol); before, it left from the `-o`
/// VIP.
#[test]
fn a_server_port_shared_with_a_mark_service_cannot_be_answered_for() {
    let with = |mark: &[&str]| {
        let mut rules = dns("-o");
        rules.extend(mark.iter().map(|r| r.to_string()));
        lab(&rules)
    };
    let mut d = with(&[
        "-A -f 1 -s rr --mark-dest udp:198.18.0.111:53",
        "-a -f 1 -r 198.19.0.2:5353 -m",
    ]);
    assert!(answer(&mut d, RS1, 5353, 5000).is_none());
    assert_eq!(d.ctr(Ctr::DropOpsAmbiguous), 1);
    assert_eq!(answer(&mut d, RS2, 5353, 5000).expect("RS2").src, VIP);
    // Another port of the same server is not shared.
    let mut d = with(&[
        "-A -f 1 -s rr --mark-dest udp:198.18.0.111:53",
        "-a -f 1 -r 198.19.0.2:5354 -m",
    ]);
    assert_eq!(answer(&mut d, RS1, 5353, 5000).expect("RS1").src, VIP);
    // A persistent mark service's connections keep the client's destination
    // port: every port of its server is shared.
    let mut d = with(&[
        "-A -f 1 -s rr -p 60 --mark-dest udp:198.18.0.111:53",
        "-a -f 1 -r 198.19.0.2:5354 -m",
    ]);
    assert!(answer(&mut d, RS1, 5353, 5000).is_none());
    // A mark service of TCP only shares no UDP port.
    let mut d = with(&[
        "-A -f 1 -s rr --mark-dest tcp:198.18.0.111:53",
        "-a -f 1 -r 198.19.0.2:5353 -m",
    ]);
    assert_eq!(answer(&mut d, RS1, 5353, 5000).expect("RS1").src, VIP);
}

#[test]
fn a_server_port_behind_two_ops_services_cannot_be_answered_for() {
    let mut rules = dns("-o");
    rules.push("-A -u 198.18.0.111:53 -s rr -o".into());
    rules.push("-a -u 198.18.0.111:53 -r 198.19.0.2:5353 -m".into());
    let mut d = lab(&rules);
    assert!(answer(&mut d, RS1, 5353, 5000).is_none());
    assert_eq!(d.ctr(Ctr::DropOpsAmbiguous), 1);
    // RS2 serves one of them only.
    let a = answer(&mut d, RS2, 5353, 5000).expect("RS2's answer");
    assert_eq!((a.src, a.sport), (VIP, 53));
    // A -o service next to a plain one on the same server port: the plain
    // one's replies ride on their connections; one of no connection may be a
    // late reply of the plain service, which must not leave from the -o VIP.
    let mut mixed = dns("-o");
    mixed.push("-A -u 198.18.0.111:53 -s rr".into());
    mixed.push("-a -u 198.18.0.111:53 -r 198.19.0.2:5353 -m".into());
    let mut d = lab(&mixed);
    let to_vip2 = L3 {
        dst: Ipv4Addr::new(198, 18, 0, 111),
        ..L3::to_vip()
    };
    let (_, int) = d.ext(&udp_frame(&to_vip2, 6000, 53, b"q", true));
    assert_eq!(parse_ip(&int[0]).dst, RS1);
    let a = answer(&mut d, RS1, 5353, 6000).expect("on its connection");
    assert_eq!(a.src, Ipv4Addr::new(198, 18, 0, 111));
    assert!(answer(&mut d, RS1, 5353, 5000).is_none());
    assert_eq!(d.ctr(Ctr::DropOpsAmbiguous), 1);
    // RS2 serves the -o service alone.
    assert_eq!(answer(&mut d, RS2, 5353, 5000).expect("RS2").src, VIP);
    // A port-0 -o service of an address: its replies come from any port,
    // so another service on one of them makes that port ambiguous.
    let mut d = lab(&[
        "-A -u 198.18.0.111:0 -s rr -p 60 -o".into(),
        "-a -u 198.18.0.111:0 -r 198.19.0.2 -m".into(),
        "-A -u 198.18.0.110:53 -s rr -o".into(),
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m".into(),
    ]);
    assert!(answer(&mut d, RS1, 53, 5000).is_none());
    assert_eq!(d.ctr(Ctr::DropOpsAmbiguous), 1);
    let a = answer(&mut d, RS1, 5354, 5000).expect("the port-0 service's");
    assert_eq!((a.src, a.sport), (Ipv4Addr::new(198, 18, 0, 111), 5354));
}

#[test]
fn persistence_still_holds_a_client_to_its_server() {
    let mut d = lab(&dns("-p 60 -o"));
    let to: Vec<Ipv4Addr> = (5000..5004).map(|p| query(&mut d, p).dst).collect();
    assert_eq!(to, [RS1; 4], "the template, not rr, picks");
    assert!(
        d.w().core.table.is_empty(),
        "no connection, only the template"
    );
    // Each datagram extends the template to its -p from now: 100 s after
    // the first, 50 s after the last, it still holds.
    d.advance(Duration::from_secs(50));
    assert_eq!(query(&mut d, 5009).dst, RS1);
    d.advance(Duration::from_secs(50));
    assert_eq!(query(&mut d, 5010).dst, RS1, "50 s after the last one");
    // Released at once by each datagram (no connection holds it), it
    // expires 60 s after the last.
    d.advance(Duration::from_secs(61));
    d.poll();
    assert_eq!(
        query(&mut d, 5011).dst,
        RS2,
        "expired: scheduled anew, rr's next"
    );
}

/// A master reports a -o service's template when it is made and then once
/// per resend period while datagrams use it, never per datagram (IPVS syncs
/// no one-packet connection, and their template by its own packet count).
#[test]
fn a_master_reports_the_template_once_a_period_not_per_datagram() {
    let mut d = lab(&dns("-p 60 -o"));
    d.shared.ha.set_resend_s(10);
    d.shared.ha.set_master(true);
    d.shared.bump();
    let reports = |d: &MemDirector| -> Vec<ringvs::dataplane::sync::SyncEntry> {
        d.sync.reports.iter().flat_map(|r| r.try_iter()).collect()
    };
    for p in 0..20 {
        assert_eq!(query(&mut d, 5000 + p).dst, RS1);
    }
    let r = reports(&d);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].template);
    assert_eq!(
        (r[0].client, r[0].rip, r[0].timeout),
        ((be(CLIENT), 0), (be(RS1), 5353), 60)
    );
    d.advance(Duration::from_secs(5));
    query(&mut d, 6000);
    assert!(reports(&d).is_empty(), "within the period");
    d.advance(Duration::from_secs(6));
    query(&mut d, 6001);
    query(&mut d, 6002);
    assert_eq!(reports(&d).len(), 1, "once more after 10 s");
}

#[test]
fn a_port_zero_service_keeps_the_port_both_ways() {
    let mut d = lab(&[
        "-A -u 198.18.0.110:0 -s rr -p 30 -o".into(),
        "-a -u 198.18.0.110:0 -r 198.19.0.2 -m".into(),
    ]);
    let (_, int) = d.ext(&udp_frame(&L3::to_vip(), 5000, 5353, b"q", true));
    let p = parse_ip(&int[0]);
    assert_eq!((p.dst, p.dport), (RS1, 5353));
    let a = answer(&mut d, RS1, 5353, 5000).expect("answer");
    assert_eq!((a.src, a.sport), (VIP, 5353));
    assert!(d.w().core.table.is_empty());
    // Any port of the server is the service's.
    let a = answer(&mut d, RS1, 40000, 5000).expect("answer");
    assert_eq!((a.src, a.sport), (VIP, 40000));
}

/// ipvsadm refuses `-o` on a TCP service (`tests/golden.rs`); a
/// configuration that marks one all the same (a saved state, an API caller)
/// schedules its connections as usual: the snapshot takes `ops` for UDP
/// only, and IPVS applies it to UDP alone.
#[test]
fn tcp_services_ignore_it_as_ipvs_does() {
    let mut d = lab(&[
        "-A -t 198.18.0.110:80 -s rr".into(),
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m".into(),
    ]);
    let key = ringvs::config::ServiceKey::new(Proto::Tcp, VIP, 80);
    d.cfg.set_service_ops(&key, true).expect("the service");
    d.publish_with(|_| {});
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    assert_eq!(parse_ip(&int[0]).dst, RS1);
    assert_eq!((d.ctr(Ctr::ConnNew), d.ctr(Ctr::OpsScheduled)), (1, 0));
    assert_eq!(d.w().core.table.len(), 1);
}

#[test]
fn a_dr_server_gets_each_datagram_unchanged() {
    let mut d = lab(&[
        "-A -u 198.18.0.110:53 -s rr -o".into(),
        "-a -u 198.18.0.110:53 -r 198.19.0.3 -g".into(),
        "-a -u 198.18.0.110:53 -r 198.19.0.2 -g".into(),
    ]);
    let macs: Vec<[u8; 6]> = (0..2)
        .map(|_| {
            let (_, int) = d.ext(&udp_frame(&L3::to_vip(), 5000, 53, b"q", true));
            let p = parse_ip(&int[0]);
            assert_eq!(
                (p.dst, p.dport, p.ttl),
                (VIP, 53, 64),
                "DR: the packet as sent"
            );
            p.dst_mac
        })
        .collect();
    assert_eq!(macs, [RS1_MAC, RS2_MAC]);
    assert!(d.w().core.table.is_empty());
}

/// A query in fragments: the first is scheduled, and the others (also one
/// that came before it) follow it to its server, so the server gets the
/// datagram whole; the next query goes to the next server.
#[test]
fn every_fragment_of_a_query_goes_where_its_first_went() {
    let mut d = lab(&dns("-o"));
    let body: Vec<u8> = (0..3000).map(|i| (i * 5 + 1) as u8).collect();
    let mut servers = Vec::new();
    for (n, sport) in [(0u16, 5000u16), (1, 5000)] {
        let mut l3 = L3::to_vip();
        l3.id = 0x4000 + n;
        let query = udp_frame(&l3, sport, 53, &body, true);
        let mut pieces = cut(&query, 1480);
        // The last fragment first: held until the first comes.
        pieces.rotate_right(1);
        let mut out = Vec::new();
        for piece in &pieces {
            let (ext, int) = d.ext(piece);
            assert!(ext.is_empty());
            out.extend(int);
        }
        assert_eq!(out.len(), 3, "{:?}", drops(&d.w().core.ctr));
        let to: Vec<Ipv4Addr> = out
            .iter()
            .map(|f| SIp::new_unchecked(&f[14..]).dst_addr())
            .collect();
        assert!(to.iter().all(|a| *a == to[0]), "one server: {to:?}");
        out.sort_by_key(|f| SIp::new_unchecked(&f[14..]).frag_offset());
        let ip = reassemble(&out, MTU);
        let p = SIp::new_checked(&ip[..]).expect("ipv4");
        let u = SUdp::new_checked(p.payload()).expect("udp");
        assert_eq!((u.src_port(), u.dst_port()), (sport, 5353));
        assert!(u.verify_checksum(&CLIENT.into(), &to[0].into()));
        assert_eq!(u.payload(), &body[..]);
        servers.push(to[0]);
    }
    assert_eq!(servers, [RS1, RS2], "each datagram scheduled on its own");
    assert_eq!(d.ctr(Ctr::OpsScheduled), 2);
    assert!(d.w().core.table.is_empty());
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));
}

/// The later fragments of a query go only where its first went: once that
/// server is removed and its id given to another (rules built anew hand
/// the ids out in turn), they are dropped, not sent to the new server
/// (the fragment table's entry is nothing `Shared::held` keeps an id for),
/// and counted as such (`drop_ops_gone`), not as a datagram no server could
/// take, whose client would be told (`drop_no_dest`).
#[test]
fn fragments_do_not_follow_their_servers_id_to_another_server() {
    let mut d = lab(&dns("-o"));
    let mut l3 = L3::to_vip();
    l3.id = 0x4100;
    let pieces = cut(&udp_frame(&l3, 5000, 53, &[7u8; 3000], true), 1480);
    assert_eq!(pieces.len(), 3);
    let (_, int) = d.ext(&pieces[0]);
    assert_eq!(int.len(), 1, "the first fragment scheduled");
    let dst = |f: &Vec<u8>| SIp::new_unchecked(&f[14..]).dst_addr();
    assert_eq!(dst(&int[0]), RS1);
    let id = d.dest_id(Proto::Udp, 53, RS1, 5353);
    // RS1 removed; a new server takes its id.
    let new = Ipv4Addr::new(198, 19, 0, 9);
    d.reconfigure(&[
        "-A -u 198.18.0.110:53 -s rr -o",
        "-a -u 198.18.0.110:53 -r 198.19.0.3:5353 -m",
        "-a -u 198.18.0.110:53 -r 198.19.0.9:5353 -m",
    ]);
    d.resolve(Nic::Int, new, [0x02, 0x55, 0, 0, 0, 0x09]);
    assert_eq!(d.dest_id(Proto::Udp, 53, new, 5353), id, "the id reused");
    for piece in &pieces[1..] {
        let (ext, int) = d.ext(piece);
        assert!(ext.is_empty() && int.is_empty(), "not to {new}");
    }
    assert_eq!(drops(&d.w().core.ctr), [("drop_ops_gone", 2)]);
    assert_eq!(d.ctr(Ctr::IcmpPortUnreach), 0, "the client is not told");
    // A new query goes to the new server, whole.
    l3.id = 0x4101;
    let mut to = Vec::new();
    for piece in cut(&udp_frame(&l3, 5001, 53, &[7u8; 3000], true), 1480) {
        to.extend(d.ext(&piece).1.iter().map(dst));
    }
    assert_eq!(to.len(), 3, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(to, [new; 3]);
}

/// A query's later fragments whose server was removed (its id not given
/// to another) are dropped as gone too, and the client is not told: the
/// datagram was scheduled, and the other server gets no part of it.
#[test]
fn fragments_whose_server_was_removed_are_dropped_as_gone() {
    let mut d = lab(&dns("-o"));
    let mut l3 = L3::to_vip();
    l3.id = 0x4200;
    let pieces = cut(&udp_frame(&l3, 5000, 53, &[7u8; 3000], true), 1480);
    let (_, int) = d.ext(&pieces[0]);
    assert_eq!(int.len(), 1, "the first fragment scheduled");
    assert_eq!(SIp::new_unchecked(&int[0][14..]).dst_addr(), RS1);
    let rs2 = d.dest_id(Proto::Udp, 53, RS2, 5353);
    d.reconfigure(&[
        "-A -u 198.18.0.110:53 -s rr -o",
        "-a -u 198.18.0.110:53 -r 198.19.0.3:5353 -m",
    ]);
    assert_eq!(d.dest_id(Proto::Udp, 53, RS2, 5353), rs2, "RS2 kept its id");
    for piece in &pieces[1..] {
        let (ext, int) = d.ext(piece);
        assert!(ext.is_empty() && int.is_empty(), "nothing to RS2, no ICMP");
    }
    assert_eq!(drops(&d.w().core.ctr), [("drop_ops_gone", 2)]);
}

#[test]
fn every_fragment_of_a_reply_is_translated() {
    let mut d = lab(&dns("-o"));
    assert_eq!(query(&mut d, 5000).dst, RS1);
    let body: Vec<u8> = (0..3000).map(|i| (i * 7 + 3) as u8).collect();
    let reply = udp_frame(&L3::from_rs(RS1, CLIENT), 5353, 5000, &body, true);
    let mut out = Vec::new();
    for piece in cut(&reply, 1480) {
        let (ext, int) = d.int(&piece);
        assert!(int.is_empty());
        out.extend(ext);
    }
    assert_eq!(out.len(), 3, "{:?}", drops(&d.w().core.ctr));
    out.sort_by_key(|f| SIp::new_unchecked(&f[14..]).frag_offset());
    let ip = reassemble(&out, MTU);
    let p = SIp::new_checked(&ip[..]).expect("ipv4");
    assert_eq!((p.src_addr(), p.dst_addr()), (VIP, CLIENT));
    let u = SUdp::new_checked(p.payload()).expect("udp");
    assert_eq!((u.src_port(), u.dst_port()), (53, 5000));
    assert!(u.verify_checksum(&VIP.into(), &CLIENT.into()));
    assert_eq!(u.payload(), &body[..]);
}

#[test]
fn ipv6_services_schedule_one_datagram_at_a_time_too() {
    let mut d = MemDirector::dual_stack(&[
        "-A -u [2001:2:0:1::110]:53 -s rr -o",
        "-a -u [2001:2:0:1::110]:53 -r [2001:2:0:2::3]:5353 -m",
        "-a -u [2001:2:0:1::110]:53 -r [2001:2:0:2::2]:5353 -m",
    ]);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(Nic::Int, RS2_6, RS2_MAC);
    let mut to = Vec::new();
    for _ in 0..2 {
        let q = frames6::udp(&l3_to_vip6(), &[], 41000, 53, b"query", false);
        let (_, int) = d.ext(&q);
        assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
        to.push(parse_ip6(&int[0]).dst);
    }
    assert_eq!(to, [RS1_6, RS2_6]);
    assert!(d.w().core.table6.is_empty());
    let a = frames6::udp(&l3_from_rs6(RS2_6, CLIENT6), &[], 5353, 41000, b"a", false);
    let (ext, _) = d.int(&a);
    assert_eq!(ext.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let p = parse_ip6(&ext[0]);
    assert_eq!((p.src, p.dst), (VIP6, CLIENT6));
    assert!(
        ringvs::wire::UdpPacket::new_checked(&p.l4[..])
            .expect("udp")
            .verify_checksum_v6(VIP6, CLIENT6)
    );
    assert_eq!(u16::from_be_bytes([p.l4[0], p.l4[1]]), 53);
}

/// The kernel binds a one-packet connection and unbinds it at once
/// (`ip_vs_conn_new` → `ip_vs_bind_dest`; `ip_vs_conn_put` expires it,
/// `ip_vs_conn_expire` → `ip_vs_unbind_dest`, `ip_vs_conn.c`), so a
/// datagram sent to a server one below its `-x` overloads it: the bind
/// reaches the threshold and the unbind does not fall below three quarters
/// of it. Here RS1 holds three UDP connections made before an `-E … -o`,
/// with `-x 4`: the first datagram it gets overloads it, and the others go
/// to RS2.
#[test]
fn a_datagram_at_one_below_the_upper_threshold_overloads_its_server() {
    let rules = |opts: &str| {
        vec![
            format!("-A -u 198.18.0.110:53 -s rr {opts}"),
            "-a -u 198.18.0.110:53 -r 198.19.0.3:5353 -m".to_string(),
            "-a -u 198.18.0.110:53 -r 198.19.0.2:5353 -m -x 4".to_string(),
        ]
    };
    let mut d = lab(&rules(""));
    let to: Vec<Ipv4Addr> = (5000..5005).map(|p| query(&mut d, p).dst).collect();
    assert_eq!(to, [RS1, RS2, RS1, RS2, RS1]);
    let id1 = d.dest_id(Proto::Udp, 53, RS1, 5353);
    let rules = rules("-o");
    d.reconfigure(&rules.iter().map(String::as_str).collect::<Vec<_>>());
    let to: Vec<Ipv4Addr> = (6000..6005).map(|p| query(&mut d, p).dst).collect();
    assert_eq!(
        to,
        [RS1, RS2, RS2, RS2, RS2],
        "RS1 overloaded by its datagram"
    );
    assert_eq!(d.w().core.table.len(), 5, "the earlier connections stay");
    d.poll();
    assert_eq!(d.published[0].dest_stats(id1).conns, 4);
}
