//! The SIP persistence engine (`--pe sip`, IPVS's `ip_vs_pe_sip`) through a
//! worker, in memory: a persistent UDP service's datagrams go by their
//! Call-ID's template, whatever their client port; a datagram without a
//! Call-ID the engine can read is not scheduled; without `-p` the engine
//! does not schedule; a datagram a real server starts puts its call's
//! template on that server (with `-p`) and makes a connection (without
//! `-o`), IPVS's `conn_out`.

mod inmem;

use inmem::*;
use ringvs::stats::Ctr;
use std::net::Ipv4Addr;

/// A SIP request with Call-ID `id` (none: no Call-ID header).
fn sip(id: Option<&str>) -> Vec<u8> {
    let mut m = String::from(
        "OPTIONS sip:service@198.18.0.110 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.18.0.1;branch=z9hG4bK1\r\n",
    );
    if let Some(id) = id {
        m.push_str(&format!("Call-ID: {id}\r\n"));
    }
    m.push_str("CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    m.into_bytes()
}

/// A director with `service` (its `-A` options after `-u VIP:5060`) on both
/// real servers.
fn lab(service: &str) -> MemDirector {
    let add = format!("-A -u 198.18.0.110:5060 {service}");
    let rules = [
        add.as_str(),
        "-a -u 198.18.0.110:5060 -r 198.19.0.3:5060 -m",
        "-a -u 198.18.0.110:5060 -r 198.19.0.2:5060 -m",
    ];
    let mut d = MemDirector::new(&rules);
    d.resolve_all();
    d
}

/// The real server a datagram from `client:port` with Call-ID `id` went to
/// (`None`: nothing was forwarded).
fn sent(d: &mut MemDirector, client: Ipv4Addr, port: u16, id: Option<&str>) -> Option<Ipv4Addr> {
    let f = udp_frame(&L3::from_client(client), port, 5060, &sip(id), true);
    let (ext, int) = d.ext(&f);
    assert!(ext.is_empty());
    int.first().map(|f| parse_ip(f).dst)
}

#[test]
fn a_calls_datagrams_follow_its_call_id_from_any_port() {
    let mut d = lab("-s rr -p 60 -o --pe sip");
    let a = sent(&mut d, CLIENT, 5060, Some("call-a@host")).expect("scheduled");
    let b = sent(&mut d, CLIENT, 5060, Some("call-b@host")).expect("scheduled");
    assert_ne!(a, b, "rr: a new call, the other server");
    // Every datagram of a call, from whatever port, to its server.
    for port in [5060, 5061, 40000, 40001] {
        assert_eq!(sent(&mut d, CLIENT, port, Some("call-a@host")), Some(a));
        assert_eq!(sent(&mut d, CLIENT, port, Some("call-b@host")), Some(b));
    }
    // The compact form names the same call.
    let f = udp_frame(
        &L3::to_vip(),
        5062,
        5060,
        b"BYE sip:x SIP/2.0\r\ni: call-a@host\r\n\r\n",
        true,
    );
    assert_eq!(parse_ip(&d.ext(&f).1[0]).dst, a);
    // Another client is another template (the host netmask), though the
    // Call-ID is the same: rr goes on.
    let c = sent(&mut d, CLIENT2, 5060, Some("call-a@host")).expect("scheduled");
    assert_eq!(c, a, "rr's third pick");
    assert_eq!(sent(&mut d, CLIENT2, 5060, Some("call-c@host")), Some(b));
    assert_eq!(d.ctr(Ctr::OpsScheduled), 13);
    assert_eq!(d.ctr(Ctr::DropNoCallId), 0);
}

#[test]
fn with_a_zero_netmask_a_call_is_one_template_for_all_clients() {
    let mut d = lab("-s rr -p 60 -M 0.0.0.0 -o --pe sip");
    let a = sent(&mut d, CLIENT, 5060, Some("shared")).expect("scheduled");
    let b = sent(&mut d, CLIENT2, 5060, Some("other")).expect("scheduled");
    assert_ne!(a, b);
    assert_eq!(sent(&mut d, CLIENT2, 6000, Some("shared")), Some(a));
    assert_eq!(sent(&mut d, CLIENT, 6000, Some("other")), Some(b));
}

#[test]
fn a_datagram_without_a_call_id_is_not_scheduled() {
    let mut d = lab("-s rr -p 60 -o --pe sip");
    assert_eq!(sent(&mut d, CLIENT, 5060, None), None);
    let f = udp_frame(&L3::to_vip(), 5060, 5060, b"not sip at all", true);
    assert!(d.ext(&f).1.is_empty());
    let trailing = udp_frame(
        &L3::to_vip(),
        5060,
        5060,
        b"OPTIONS sip:x SIP/2.0\r\nCall-ID: abc \r\n\r\n",
        true,
    );
    assert!(d.ext(&trailing).1.is_empty(), "whitespace after the value");
    assert_eq!(d.ctr(Ctr::DropNoCallId), 3);
    assert_eq!(d.ctr(Ctr::OpsScheduled), 0);
}

/// Without `-o` the first datagram makes a connection, which its later
/// datagrams follow whatever their Call-ID (as in IPVS); a new client port
/// with a known Call-ID finds that call's server.
#[test]
fn connections_are_scheduled_by_call_id_and_then_followed() {
    let mut d = lab("-s rr -p 60 --pe sip");
    let a = sent(&mut d, CLIENT, 5060, Some("one")).expect("scheduled");
    assert_eq!(
        sent(&mut d, CLIENT, 5060, Some("two")),
        Some(a),
        "the connection"
    );
    let b = sent(&mut d, CLIENT, 5070, Some("three")).expect("scheduled");
    assert_ne!(a, b);
    assert_eq!(sent(&mut d, CLIENT, 5080, Some("one")), Some(a));
    assert_eq!(sent(&mut d, CLIENT, 5090, Some("three")), Some(b));
    assert_eq!(d.ctr(Ctr::ConnNew), 4);
    // A connection holds no SIP template (its Call-ID is not kept): the
    // templates go their timeout after their last use, and the listing
    // holds the connections alone then.
    d.advance(std::time::Duration::from_secs(61));
    d.poll();
    let listed = d.conns(0);
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(listed.iter().all(|c| !c.template));
}

/// IPVS calls the engine from `ip_vs_sched_persist` only: without `-p` it
/// is not used; on a TCP service its reading fails, so nothing is
/// scheduled.
#[test]
fn the_engine_needs_persistence_and_udp() {
    let mut d = lab("-s rr --pe sip");
    assert!(sent(&mut d, CLIENT, 5060, None).is_some());
    let rules = [
        "-A -t 198.18.0.110:5060 -s rr -p 60 --pe sip",
        "-a -t 198.18.0.110:5060 -r 198.19.0.2:5060 -m",
    ];
    let mut d = MemDirector::new(&rules);
    d.resolve_all();
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), 40000, 5060, SYN));
    assert!(int.is_empty());
    assert_eq!(d.ctr(Ctr::DropNoCallId), 1);
}

/// IPv6: the same engine on an IPv6 service (its own templates, by the
/// client's prefix of `-M` and the Call-ID).
#[test]
fn an_ipv6_calls_datagrams_follow_its_call_id() {
    use inmem::frames6;
    let rules = [
        "-A -u [2001:2:0:1::110]:5060 -s rr -p 60 -o --pe sip",
        "-a -u [2001:2:0:1::110]:5060 -r [2001:2:0:2::2]:5060 -m",
        "-a -u [2001:2:0:1::110]:5060 -r [2001:2:0:2::3]:5060 -m",
    ];
    let mut d = MemDirector::with_env(1, &rules, env6(), 1024);
    d.resolve6(ringvs::Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(ringvs::Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(ringvs::Nic::Int, RS2_6, RS2_MAC);
    let mut sent = |port: u16, id: Option<&str>| {
        let f = frames6::udp(&l3_to_vip6(), &[], port, 5060, &sip(id), false);
        let (_, int) = d.ext(&f);
        int.first().map(|f| parse_ip6(f).dst)
    };
    let a = sent(5060, Some("v6-a")).expect("scheduled");
    let b = sent(5060, Some("v6-b")).expect("scheduled");
    assert_ne!(a, b);
    for port in [5061, 6000, 7000] {
        assert_eq!(sent(port, Some("v6-a")), Some(a));
        assert_eq!(sent(port, Some("v6-b")), Some(b));
    }
    assert_eq!(sent(5060, None), None);
    assert_eq!(d.ctr(Ctr::DropNoCallId), 1);
    // The other server's own request moves the call there (`conn_out`),
    // leaving from the VIP.
    let other = if a == RS1_6 { RS2_6 } else { RS1_6 };
    let bye = b"BYE sip:c SIP/2.0\r\nCall-ID: v6-a\r\n\r\n";
    let f = frames6::udp(&l3_from_rs6(other, CLIENT6), &[], 5060, 5060, bye, false);
    let (ext, _) = d.int(&f);
    assert_eq!(ext.len(), 1);
    assert_eq!(parse_ip6(&ext[0]).src, VIP6);
    assert_eq!(d.ctr(Ctr::SipConnOut), 1);
    let f = frames6::udp(&l3_to_vip6(), &[], 7001, 5060, &sip(Some("v6-a")), false);
    assert_eq!(parse_ip6(&d.ext(&f).1[0]).dst, other);
}

/// A datagram real server `rs` starts towards `client:port` with Call-ID
/// `id`: what leaves on the external NIC, as (source, source port,
/// destination port).
fn from_rs(
    d: &mut MemDirector,
    rs: Ipv4Addr,
    client: Ipv4Addr,
    port: u16,
    id: Option<&str>,
) -> Option<(Ipv4Addr, u16, u16)> {
    let bye = match id {
        Some(id) => format!("BYE sip:client@{client} SIP/2.0\r\nCall-ID: {id}\r\n\r\n"),
        None => "BYE sip:x SIP/2.0\r\n\r\n".to_string(),
    };
    let f = udp_frame(&L3::from_rs(rs, client), 5060, port, bye.as_bytes(), true);
    let (ext, int) = d.int(&f);
    assert!(int.is_empty());
    ext.first().map(|f| {
        let p = parse_ip(f);
        (p.src, p.sport, p.dport)
    })
}

/// IPVS's `conn_out` (`ip_vs_sip_conn_out`, `ip_vs_new_conn_out`): without
/// `-o`, a datagram a real server starts (here a BYE) makes a connection
/// from the client's port to the VIP, leaves from the VIP, and the client's
/// answer on that port comes back to that server; it also puts its
/// Call-ID's template on the server, so the call's next request from
/// another port goes there too, where rr would have gone elsewhere.
#[test]
fn a_real_servers_own_request_makes_a_connection_and_its_calls_template() {
    let mut d = lab("-s rr -p 60 --pe sip");
    assert_eq!(
        from_rs(&mut d, RS2, CLIENT, 5070, Some("far-end-hangup")),
        Some((VIP, 5060, 5070))
    );
    assert_eq!(d.ctr(Ctr::SipConnOut), 1);
    assert_eq!(d.ctr(Ctr::ConnNew), 1);
    // The client's 200 OK, from the port the BYE went to: the connection.
    assert_eq!(
        sent(&mut d, CLIENT, 5070, Some("far-end-hangup")),
        Some(RS2)
    );
    // rr's first pick is rs1 (198.19.0.2); the call's template says rs2.
    assert_eq!(
        sent(&mut d, CLIENT, 5080, Some("far-end-hangup")),
        Some(RS2)
    );
    assert_eq!(sent(&mut d, CLIENT, 5090, Some("another")), Some(RS1));
    // A template on another server is replaced (`ip_vs_check_template`
    // with its `cdest`): rs1's own request moves the call to rs1.
    assert_eq!(
        from_rs(&mut d, RS1, CLIENT, 5100, Some("far-end-hangup")),
        Some((VIP, 5060, 5100))
    );
    assert_eq!(
        sent(&mut d, CLIENT, 5110, Some("far-end-hangup")),
        Some(RS1)
    );
    // Without a Call-ID: nothing made, dropped.
    assert_eq!(from_rs(&mut d, RS1, CLIENT, 5120, None), None);
    assert_eq!(d.ctr(Ctr::DropNoCallId), 1);
    assert_eq!(d.ctr(Ctr::SipConnOut), 2);
    // A user agent's one port, with a connection to one server: the other
    // server's request replaces it (IPVS hashes the newer connection in
    // front), and the port's next datagrams go to that server.
    let first = sent(&mut d, CLIENT, 5200, Some("call-x")).expect("scheduled");
    let other = if first == RS1 { RS2 } else { RS1 };
    assert_eq!(
        from_rs(&mut d, other, CLIENT, 5200, Some("call-y")),
        Some((VIP, 5060, 5200))
    );
    assert_eq!(sent(&mut d, CLIENT, 5200, Some("call-x")), Some(other));
    assert_eq!(d.ctr(Ctr::SipConnOut), 3);
    assert_eq!(drops(&d.w().core.ctr), [("drop_no_callid", 1)]);
}

/// Without `-p` IPVS still makes `conn_out`'s connection:
/// `ip_vs_add_service` counts the service in `conn_out_counter` for its
/// engine alone, and `ip_vs_new_conn_out` (`ip_vs_core.c`) skips only the
/// template (and the Call-ID reading) when the service is not persistent.
/// A real server's BYE of no connection leaves from the VIP, its Call-ID
/// read or not; the connection is counted and synced as a client's, and
/// the client's answer on that port comes back to that server, where rr
/// would have started at rs1.
#[test]
fn without_persistence_a_real_servers_request_makes_a_connection() {
    use ringvs::sync::wire::{self, AnyConn};
    let mut d = lab("-s rr --pe sip");
    d.shared.ha.set_master(true);
    d.shared.bump();
    assert_eq!(
        from_rs(&mut d, RS2, CLIENT, 5062, Some("no-template")),
        Some((VIP, 5060, 5062))
    );
    assert_eq!(
        from_rs(&mut d, RS2, CLIENT, 5064, None),
        Some((VIP, 5060, 5064))
    );
    assert_eq!(d.ctr(Ctr::ConnNew), 2);
    assert_eq!(d.ctr(Ctr::SipConnOut), 2);
    assert_eq!(d.ctr(Ctr::DropNoCallId), 0);
    assert_eq!(sent(&mut d, CLIENT, 5062, Some("no-template")), Some(RS2));
    assert_eq!(sent(&mut d, CLIENT, 5064, None), Some(RS2));
    let listed = d.conns(0);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|c| !c.template));
    let msgs = ringvs::sync::daemon::messages(&d.sync, 7, 1472).expect("buffer");
    let synced: Vec<(u16, bool)> = msgs
        .iter()
        .flat_map(|m| wire::parse(m, 7).expect("a message"))
        .filter_map(|e| match e {
            Ok(AnyConn::V4(c)) => Some((c.cport, c.is_template())),
            _ => None,
        })
        .collect();
    assert_eq!(synced, [(5062, false), (5064, false)]);
}

/// With `-o` the real server's datagram leaves from the VIP without a
/// connection (as any `-o` reply), and puts its Call-ID's template on it.
#[test]
fn with_one_packet_scheduling_a_real_servers_request_moves_its_call() {
    let mut d = lab("-s rr -p 60 -o --pe sip");
    let a = sent(&mut d, CLIENT, 5060, Some("call")).expect("scheduled");
    let other = if a == RS1 { RS2 } else { RS1 };
    assert_eq!(
        from_rs(&mut d, other, CLIENT, 5060, Some("call")),
        Some((VIP, 5060, 5060))
    );
    assert_eq!(d.ctr(Ctr::ConnNew), 0);
    assert_eq!(d.ctr(Ctr::SipConnOut), 1);
    assert_eq!(sent(&mut d, CLIENT, 5070, Some("call")), Some(other));
    // A keep-alive without a Call-ID leaves from the VIP as any -o reply.
    assert_eq!(
        from_rs(&mut d, other, CLIENT, 5060, None),
        Some((VIP, 5060, 5060))
    );
    assert_eq!(d.ctr(Ctr::DropNoCallId), 0);
    // A service without the engine makes nothing of it.
    let mut plain = lab("-s rr -p 60 -o");
    assert_eq!(
        from_rs(&mut plain, RS2, CLIENT, 5060, Some("call")),
        Some((VIP, 5060, 5060))
    );
    assert_eq!(plain.ctr(Ctr::SipConnOut), 0);
}

/// A SIP template from a sync master (as IPVS's `ip_vs_sync_conn` sends
/// one: a template entry with `IPVS_OPT_PE_DATA`, the Call-ID, and
/// `IPVS_OPT_PE_NAME` "sip"): the backup installs it under its own key for
/// that Call-ID, so the call's datagrams go to the master's server from any
/// port, where rr would have started elsewhere; another call is scheduled
/// anew. For a service without the engine it is dropped
/// (`drop_persistence_engine`): it would stand for every call of the client.
#[test]
fn a_synced_sip_template_brings_its_call_to_the_masters_server() {
    use ringvs::sync::wire::{self, MessageBuilder, PeData, SyncConn};
    use std::sync::atomic::Ordering;
    let template = |vport: u16| SyncConn {
        proto: 17,
        flags: wire::nat_flags(true, ringvs::nat::State::Udp),
        state: 0,
        caddr: CLIENT,
        cport: 0,
        vaddr: VIP,
        vport,
        daddr: RS2,
        dport: vport,
        fwmark: 0,
        timeout: 60,
        seq: None,
        pe: PeData::new(b"synced-call@ua"),
    };
    let rules = [
        "-A -u 198.18.0.110:5060 -s rr -p 60 -o --pe sip",
        "-a -u 198.18.0.110:5060 -r 198.19.0.3:5060 -m",
        "-a -u 198.18.0.110:5060 -r 198.19.0.2:5060 -m",
        "-A -u 198.18.0.110:5061 -s rr -p 60 -o",
        "-a -u 198.18.0.110:5061 -r 198.19.0.3:5061 -m",
    ];
    let mut d = MemDirector::new(&rules);
    d.resolve_all();
    let intake = d.intake(7, &env());
    let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
    let mut m = MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 7).expect("buffer");
    m.push(&template(5060)).expect("fits");
    m.push(&template(5061)).expect("fits");
    intake.message(m.as_bytes());
    let c = &intake.counters;
    assert_eq!(c.templates_installed.load(Ordering::Relaxed), 1);
    assert_eq!(
        c.drops(),
        std::collections::BTreeMap::from([("persistence_engine", 1)])
    );
    for port in [5060, 6000, 7000] {
        assert_eq!(
            sent(&mut d, CLIENT, port, Some("synced-call@ua")),
            Some(RS2)
        );
    }
    assert_eq!(sent(&mut d, CLIENT, 6001, Some("a-new-call")), Some(RS1));
}

/// A master's SIP templates reach its backup with their Call-IDs, in
/// memory, both ways a call's template is used: a client's request (`-o`:
/// no connection to carry it; and without `-o`, where the connection holds
/// no SIP template either) and a callee's own request (`conn_out`). The
/// entries are IPVS's (`IPVS_OPT_PE_DATA`, `IPVS_OPT_PE_NAME` "sip"); the
/// backup then sends each call to the master's server from any port, where
/// its own rr would have started at rs1. Reported once per resend period
/// while in use, as `-o` templates are.
#[test]
fn a_masters_sip_templates_reach_the_backup_with_their_call_ids() {
    use ringvs::sync::wire::{self, AnyConn};
    let role = |d: &MemDirector, master: bool, standby: bool| {
        d.shared.ha.set_master(master);
        d.shared.ha.set_standby(standby);
        d.shared.bump();
    };
    for service in ["-s rr -p 60 -o --pe sip", "-s rr -p 60 --pe sip"] {
        let mut a = lab(service);
        role(&a, true, false);
        // rr on the master: rs1 for call-1, rs2 for call-2; call-3 moved to
        // rs2 by rs2's own request.
        assert_eq!(sent(&mut a, CLIENT, 5060, Some("call-1")), Some(RS1));
        assert_eq!(sent(&mut a, CLIENT, 5062, Some("call-2")), Some(RS2));
        assert_eq!(sent(&mut a, CLIENT, 5064, Some("call-1")), Some(RS1));
        from_rs(&mut a, RS2, CLIENT, 5066, Some("call-3")).expect("out");
        let msgs = ringvs::sync::daemon::messages(&a.sync, 7, 1472).expect("buffer");
        let entries: Vec<AnyConn> = msgs
            .iter()
            .flat_map(|m| wire::parse(m, 7).expect("a message"))
            .filter_map(Result::ok)
            .collect();
        let calls: Vec<(String, std::net::IpAddr)> = entries
            .iter()
            .filter_map(|e| match e {
                AnyConn::V4(c) if c.is_template() => c.pe.map(|d| {
                    (
                        String::from_utf8_lossy(d.as_bytes()).into_owned(),
                        c.daddr.into(),
                    )
                }),
                _ => None,
            })
            .collect();
        assert_eq!(
            calls,
            [
                ("call-1".to_string(), RS1.into()),
                ("call-2".to_string(), RS2.into()),
                ("call-3".to_string(), RS2.into()),
            ],
            "{service}: each template once"
        );
        let mut b = lab(service);
        role(&b, false, true);
        let intake = b.intake(7, &env());
        for m in &msgs {
            intake.message(m);
        }
        role(&b, false, false);
        for (port, call, rs) in [
            (7000, "call-2", RS2),
            (7002, "call-3", RS2),
            (7004, "call-1", RS1),
        ] {
            assert_eq!(
                sent(&mut b, CLIENT, port, Some(call)),
                Some(rs),
                "{service}: {call}"
            );
        }
    }
}

/// The same for an IPv6 service with `-M 64`: the master's template, of
/// the client's /64 and the Call-ID, reaches the backup, which sends the
/// call from another client of that /64 to the master's server.
#[test]
fn an_ipv6_sip_template_reaches_the_backup() {
    use inmem::frames6;
    let rules = [
        "-A -u [2001:2:0:1::110]:5060 -s rr -p 60 -M 64 -o --pe sip",
        "-a -u [2001:2:0:1::110]:5060 -r [2001:2:0:2::3]:5060 -m",
        "-a -u [2001:2:0:1::110]:5060 -r [2001:2:0:2::2]:5060 -m",
    ];
    let director = |master: bool| {
        let mut d = MemDirector::with_env(1, &rules, env6(), 1024);
        d.resolve6(ringvs::Nic::Ext, CLIENT6, CLIENT_MAC);
        d.resolve6(ringvs::Nic::Int, RS1_6, RS1_MAC);
        d.resolve6(ringvs::Nic::Int, RS2_6, RS2_MAC);
        d.shared.ha.set_master(master);
        d.shared.bump();
        d
    };
    let sent = |d: &mut MemDirector, src: std::net::Ipv6Addr, port: u16, id: &str| {
        let l3 = frames6::L3 {
            src,
            ..l3_to_vip6()
        };
        let f = frames6::udp(&l3, &[], port, 5060, &sip(Some(id)), false);
        d.ext(&f).1.first().map(|f| parse_ip6(f).dst)
    };
    let mut a = director(true);
    assert_eq!(sent(&mut a, CLIENT6, 5060, "warm-up"), Some(RS1_6));
    assert_eq!(sent(&mut a, CLIENT6, 5060, "v6-call"), Some(RS2_6));
    let msgs = ringvs::sync::daemon::messages(&a.sync, 7, 1472).expect("buffer");
    let mut b = director(false);
    let intake = b.intake(7, &env6());
    for m in &msgs {
        intake.message(m);
    }
    assert_eq!(intake.counters.drops(), Default::default());
    let neighbour = "2001:2:0:1::77".parse().expect("an address of the /64");
    assert_eq!(sent(&mut b, neighbour, 7000, "v6-call"), Some(RS2_6));
}

/// `-L -c -n` of `d`'s connections and templates, sorted (`--sort`), with
/// `--persistent-conn` or not.
fn listing(d: &mut MemDirector, persistent_conn: bool) -> String {
    use ringvs::config::listing::ListOpts;
    let o = ListOpts {
        connections: true,
        numeric: true,
        sort: true,
        persistent_conn,
        ..ListOpts::default()
    };
    let conns = d.conns(0);
    ringvs::config::format::format_conns(&conns, &o, &ringvs::config::names::Names::none())
}

/// `-L -c --persistent-conn` shows a SIP template's engine and Call-ID as
/// `/proc/net/ip_vs_conn` does (`ip_vs_conn_seq_show`, the engine's
/// `ip_vs_sip_show_pe_data`), in ipvsadm's columns (`print_conn`: the
/// destination 16 wide, the engine's name 18); a template of a service
/// without the engine and a connection show none, as the kernel keeps
/// `pe_data` on an engine's templates only. Without `--persistent-conn`
/// a SIP template's line is any template's.
#[test]
fn the_listing_shows_a_sip_templates_call_id() {
    let rules = [
        "-A -u 198.18.0.110:5060 -s rr -p 60 --pe sip",
        "-a -u 198.18.0.110:5060 -r 198.19.0.2:5060 -m",
        "-A -u 198.18.0.110:5061 -s rr -p 90",
        "-a -u 198.18.0.110:5061 -r 198.19.0.3:5061 -m",
    ];
    let mut d = MemDirector::new(&rules);
    d.resolve_all();
    let call = "a84b4c76e66710@pc33.atlanta.example.com";
    assert_eq!(sent(&mut d, CLIENT, 5062, Some(call)), Some(RS1));
    let f = udp_frame(&L3::from_client(CLIENT), 40000, 5061, b"plain", true);
    assert_eq!(parse_ip(&d.ext(&f).1[0]).dst, RS2);
    assert_eq!(
        listing(&mut d, true),
        "IPVS connection entries\n\
         pro expire state       source             virtual            destination        pe name          pe_data\n\
         UDP 01:00  NONE        198.18.0.1:0       198.18.0.110:5060  198.19.0.2:5060  sip                a84b4c76e66710@pc33.atlanta.example.com\n\
         UDP 01:30  NONE        198.18.0.1:0       198.18.0.110:5061  198.19.0.3:5061\n\
         UDP 05:00  UDP         198.18.0.1:5062    198.18.0.110:5060  198.19.0.2:5060\n\
         UDP 05:00  UDP         198.18.0.1:40000   198.18.0.110:5061  198.19.0.3:5061\n"
    );
    assert_eq!(
        listing(&mut d, false),
        "IPVS connection entries\n\
         pro expire state       source             virtual            destination\n\
         UDP 01:00  NONE        198.18.0.1:0       198.18.0.110:5060  198.19.0.2:5060\n\
         UDP 01:30  NONE        198.18.0.1:0       198.18.0.110:5061  198.19.0.3:5061\n\
         UDP 05:00  UDP         198.18.0.1:5062    198.18.0.110:5060  198.19.0.2:5060\n\
         UDP 05:00  UDP         198.18.0.1:40000   198.18.0.110:5061  198.19.0.3:5061\n"
    );
}

/// The Call-ID is kept whole (up to the engine's 255 bytes,
/// `IP_VS_PEDATA_MAXLEN`), for a template made by a datagram with `-o`,
/// by a real server's own request (`conn_out`) and by sync; and it goes
/// with its template.
#[test]
fn every_sip_template_keeps_its_call_id_until_it_goes() {
    use ringvs::sync::wire::{self, MessageBuilder, PeData, SyncConn};
    let mut d = lab("-s rr -p 60 -o --pe sip");
    let long = "x".repeat(255);
    assert!(sent(&mut d, CLIENT, 5060, Some(&long)).is_some());
    // A real server's own request for another call.
    let bye = b"BYE sip:c SIP/2.0\r\nCall-ID: from-the-callee\r\n\r\n";
    let f = udp_frame(&L3::from_rs(RS2, CLIENT2), 5060, 5060, bye, true);
    assert_eq!(d.int(&f).0.len(), 1);
    // A master's template for a third.
    let intake = d.intake(7, &env());
    let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
    let mut m = MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 7).expect("buffer");
    m.push(&SyncConn {
        proto: 17,
        flags: wire::nat_flags(true, ringvs::nat::State::Udp),
        state: 0,
        caddr: CLIENT2,
        cport: 0,
        vaddr: VIP,
        vport: 5060,
        daddr: RS1,
        dport: 5060,
        fwmark: 0,
        timeout: 60,
        seq: None,
        pe: PeData::new(b"synced@ua"),
    })
    .expect("fits");
    intake.message(m.as_bytes());
    let mut calls: Vec<(Ipv4Addr, String)> = d
        .conns(0)
        .into_iter()
        .filter_map(|c| {
            let (pe, data) = c.pe?;
            assert_eq!(pe.name(), "sip");
            let std::net::IpAddr::V4(client) = c.client.0 else {
                panic!("{:?}", c.client)
            };
            Some((client, String::from_utf8(data.into_vec()).expect("ascii")))
        })
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        [
            (CLIENT, long),
            (CLIENT2, "from-the-callee".to_string()),
            (CLIENT2, "synced@ua".to_string()),
        ]
    );
    // Gone with their templates.
    d.advance(std::time::Duration::from_secs(61));
    d.poll();
    assert!(d.conns(0).iter().all(|c| c.pe.is_none() && !c.template));
}
