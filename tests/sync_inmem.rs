//! Connection sync and the standby role in the packet path, in memory: what a
//! master's workers report (and when), what a backup's workers install, and
//! that a standby forwards nothing and answers no ARP or ping until it becomes
//! active, then serves the synced connections at once.

mod inmem;

use inmem::*;
use ringvs::dataplane::sync::{Install, SyncEntry};
use ringvs::nat::State;
use ringvs::stats::Ctr;
use std::time::Duration;

const CPORT: u16 = 40000;

fn reports(d: &MemDirector) -> Vec<SyncEntry> {
    d.sync.reports.iter().flat_map(|r| r.try_iter()).collect()
}

fn set(d: &MemDirector, master: bool, standby: bool) {
    d.shared.ha.set_master(master);
    d.shared.ha.set_standby(standby);
    d.shared.bump();
}

/// SYN, SYN-ACK, ACK of one client connection through worker 0; returns the
/// real server it went to.
fn handshake(d: &mut MemDirector) -> std::net::Ipv4Addr {
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
    assert_eq!(int.len(), 1, "SYN forwarded");
    let rs = parse_ip(&int[0]).dst;
    let (ext, _) = d.int(&tcp_frame(&L3::from_rs(rs, CLIENT), 80, CPORT, SYN | ACK));
    assert_eq!(ext.len(), 1, "SYN-ACK forwarded");
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, ACK));
    assert_eq!(int.len(), 1, "ACK forwarded");
    rs
}

#[test]
fn a_master_reports_connections_when_they_reach_a_synced_state() {
    let mut d = MemDirector::standard();
    set(&d, true, false);
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
    let rs = parse_ip(&int[0]).dst;
    d.int(&tcp_frame(&L3::from_rs(rs, CLIENT), 80, CPORT, SYN | ACK));
    assert!(reports(&d).is_empty(), "SYN_RECV is not synced (as IPVS)");
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, ACK));
    let r = reports(&d);
    assert_eq!(r.len(), 1, "{r:?}");
    let e = r[0];
    assert_eq!(e.state, State::Established);
    assert_eq!((e.proto, e.template), (6, false));
    assert_eq!(e.client, (be(CLIENT), CPORT));
    assert_eq!(e.vip, (be(VIP), 80));
    assert_eq!(e.rip, (be(rs), 80));
    assert_eq!(e.timeout, 900, "ESTABLISHED's timeout");
    // More packets in the same state report nothing; the client's FIN moves
    // the connection to CLOSE_WAIT (IPVS's `tcp_states`, input), reported.
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, ACK | PSH));
    assert!(reports(&d).is_empty());
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, FIN | ACK));
    let r = reports(&d);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].state, State::CloseWait);
    assert_eq!(d.ctr(Ctr::SyncReported), 2);
}

#[test]
fn udp_is_reported_when_created_and_nothing_without_a_master_or_on_a_standby() {
    let rules = &[
        "-A -u 198.18.0.110:53 -s rr",
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
    ];
    let mut d = MemDirector::new(rules);
    d.resolve_all();
    d.ext(&udp_frame(&L3::to_vip(), 5000, 53, b"q", true));
    assert!(reports(&d).is_empty(), "no master daemon: nothing reported");
    set(&d, true, false);
    d.ext(&udp_frame(&L3::to_vip(), 5001, 53, b"q", true));
    let r = reports(&d);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].state, r[0].client.1, r[0].timeout),
        (State::Udp, 5001, 300)
    );
    set(&d, true, true);
    let (_, int) = d.ext(&udp_frame(&L3::to_vip(), 5002, 53, b"q", true));
    assert!(int.is_empty(), "a standby forwards nothing");
    assert!(reports(&d).is_empty(), "a standby reports nothing");
}

#[test]
fn a_persistent_connection_brings_its_template() {
    let rules = &[
        "-A -t 198.18.0.110:80 -s rr -p 120 -M 255.255.255.0",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ];
    let mut d = MemDirector::new(rules);
    d.resolve_all();
    set(&d, true, false);
    handshake(&mut d);
    let r = reports(&d);
    assert_eq!(r.len(), 2, "{r:?}");
    let t = r.iter().find(|e| e.template).expect("template reported");
    assert_eq!(t.client, (be(CLIENT) & 0xffff_ff00, 0));
    assert_eq!(
        (t.vip, t.rip, t.timeout),
        ((be(VIP), 80), (be(RS1), 80), 120)
    );
}

fn synced(d: &MemDirector, state: State) -> Install {
    Install {
        entry: SyncEntry {
            proto: 6,
            client: (be(CLIENT), CPORT),
            vip: (be(VIP), 80),
            rip: (be(RS2), 80),
            state,
            template: false,
            timeout: 900,
            forward: ringvs::config::Forward::Masq,
        },
        dest: d.dest_id(ringvs::config::Proto::Tcp, 80, RS2, 80),
    }
}

#[test]
fn a_standby_installs_synced_connections_forwards_nothing_and_serves_them_once_active() {
    let mut d = MemDirector::standard();
    set(&d, false, true);
    let i = synced(&d, State::Established);
    d.sync.installs[0].send(i).expect("queued");
    d.poll();
    assert_eq!(d.ctr(Ctr::SyncInstalled), 1);
    let c = d.conns(0);
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].state, c[0].dest.0), (State::Established, RS2.into()));

    // Standby: a packet of the connection, a ping and ARP for the VIP get nothing.
    let (ext, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, ACK | PSH));
    assert!(ext.is_empty() && int.is_empty());
    let (ext, _) = d.ext(&echo_request(&L3::to_vip(), 1, 1, b"ping"));
    assert!(ext.is_empty(), "no echo reply from a standby");
    let arp = arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], VIP, BCAST);
    let (ext, _) = d.ext(&arp);
    assert!(ext.is_empty(), "no ARP reply from a standby");
    assert_eq!(d.ctr(Ctr::DropStandby), 3);
    assert_eq!(d.ctr(Ctr::ArpReply), 0);

    // A later message updates the state of a standby's connection.
    d.sync.installs[0]
        .send(synced(&d, State::FinWait))
        .expect("queued");
    d.poll();
    assert_eq!(d.ctr(Ctr::SyncUpdated), 1);
    assert_eq!(d.conns(0)[0].state, State::FinWait);
    d.sync.installs[0]
        .send(synced(&d, State::Established))
        .expect("queued");
    d.poll();

    // Active: the synced connection is served at once, to its real server.
    set(&d, false, false);
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, ACK | PSH));
    assert_eq!(int.len(), 1, "forwarded on the synced connection");
    let p = parse_ip(&int[0]);
    assert_eq!(p.dst, RS2);
    assert_eq!(d.ctr(Ctr::FwdIn), 1);
    let (ext, _) = d.ext(&arp);
    assert_eq!(ext.len(), 1, "the active director answers ARP");
}

#[test]
fn an_active_director_keeps_its_own_connections() {
    let mut d = MemDirector::standard();
    let rs = handshake(&mut d);
    let mut i = synced(&d, State::TimeWait);
    i.entry.rip = (be(rs), 80);
    d.sync.installs[0].send(i).expect("queued");
    d.poll();
    assert_eq!(d.ctr(Ctr::SyncKept), 1);
    assert_eq!(d.conns(0)[0].state, State::Established);
}

#[test]
fn the_resend_sweep_reports_live_connections_again_each_period() {
    let mut d = MemDirector::standard();
    d.shared.ha.set_resend_s(2);
    set(&d, true, false);
    handshake(&mut d);
    assert_eq!(reports(&d).len(), 1);
    let mut again = 0;
    for _ in 0..6 {
        d.advance(Duration::from_millis(500));
        d.poll();
        again += reports(&d).len();
    }
    // 3 s: the sweep went over the whole table once (a 2 s period), maybe twice.
    assert!((1..=2).contains(&again), "reported again {again} times");
    // A standby's sweep reports nothing.
    set(&d, true, true);
    for _ in 0..6 {
        d.advance(Duration::from_millis(500));
        d.poll();
    }
    assert!(reports(&d).is_empty());
}

/// The backup daemon's intake (the daemon without its socket) on a
/// director's own channels: one message of both families installs the IPv4
/// connection in the table of the worker owning its client (`Env::owner`)
/// and queues the IPv6 one, resolved to its real server, for the worker
/// owning its IPv6 client (`Env::owner6`). The IPv6 install itself is the
/// worker's IPv6 table's: until it drains `SyncLink::next_install6`, the
/// entry waits in the channel, which this test checks (then: installed).
#[test]
fn a_backup_message_of_both_families_reaches_the_owning_workers() {
    use ringvs::dataplane::sync::SyncPorts;
    use ringvs::sync::daemon::Intake;
    use ringvs::sync::wire::{self, MessageBuilder, SyncConn};
    use std::net::Ipv6Addr;
    use std::sync::Arc;

    let ip6 = |s: &str| s.parse::<Ipv6Addr>().expect("an IPv6 address");
    let mut rules = STANDARD.to_vec();
    rules.extend([
        "-A -t [2001:2:0:1::110]:80 -s rr",
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:80 -m",
    ]);
    let env = ringvs::dataplane::Env {
        ext_net6: Some("2001:2:0:1::2/64".parse().expect("prefix")),
        int_net6: Some("2001:2:0:2::1/64".parse().expect("prefix")),
        fanout_key: 0x5eed,
        ..env()
    };
    let mut d = MemDirector::with_env(2, &rules, env.clone(), 1024);
    d.resolve_all();
    set(&d, false, true);
    let ports = SyncPorts {
        reports: vec![],
        installs: d.sync.installs.clone(),
        reports6: vec![],
        installs6: d.sync.installs6.clone(),
    };
    let intake = Intake {
        syncid: 7,
        shared: Arc::clone(&d.shared),
        env: Arc::new(env.clone()),
        ports: Arc::new(ports),
        counters: Arc::default(),
        start: d.t0,
    };
    let v4 = SyncConn {
        proto: 6,
        flags: wire::nat_flags(false, State::Established),
        state: wire::state_to_ipvs(State::Established),
        caddr: CLIENT,
        cport: CPORT,
        vaddr: VIP,
        vport: 80,
        daddr: RS2,
        dport: 80,
        fwmark: 0,
        timeout: 900,
        seq: None,
    };
    let v6 = SyncConn {
        proto: 6,
        flags: wire::nat_flags(false, State::Established),
        state: wire::state_to_ipvs(State::Established),
        caddr: ip6("2001:2:0:1::10"),
        cport: CPORT,
        vaddr: ip6("2001:2:0:1::110"),
        vport: 80,
        daddr: ip6("2001:2:0:2::2"),
        dport: 80,
        fwmark: 0,
        timeout: 900,
        seq: None,
    };
    let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
    let mut m = MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 7).expect("buffer");
    m.push(&v4).expect("fits");
    m.push(&v6).expect("fits");
    intake.message(m.as_bytes());
    let c = &intake.counters;
    assert_eq!(
        c.conns_queued.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "{:?}",
        c.drops()
    );

    d.poll();
    let owner4 = env.owner((be(CLIENT), CPORT), 2);
    for k in 0..2 {
        let installed = d.workers[k].core.ctr.get(Ctr::SyncInstalled);
        assert_eq!(installed, u64::from(k == owner4), "worker {k}");
    }
    let conns = d.conns(owner4);
    assert_eq!(conns.len(), 1);
    assert_eq!(
        (conns[0].state, conns[0].dest.0),
        (State::Established, std::net::IpAddr::V4(RS2))
    );
    let owner6 = env.owner6((ip6("2001:2:0:1::10"), CPORT), 2);
    let queued: Vec<usize> = d.sync.installs6.iter().map(|q| q.len()).collect();
    let mut want = vec![0, 0];
    want[owner6] = 1;
    assert_eq!(queued, want, "the IPv6 entry waits for worker {owner6}");
}
