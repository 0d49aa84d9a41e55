//! Connection sync and the standby role in the packet path, in memory: what a
//! master's workers report (and when), what a backup's workers install, and
//! that a standby forwards nothing and answers no ARP or ping until it becomes
//! active, then serves the synced connections at once; for IPv4 and (module
//! `v6`) IPv6 connections.

mod inmem;

use inmem::*;
use ringvs::config::{Forward, Proto, ServiceKey};
use ringvs::dataplane::sync::{Install, Resolved, SyncEntry};
use ringvs::nat::State;
use ringvs::stats::Ctr;
use std::net::Ipv4Addr;
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
    assert_eq!(t.state, State::Established, "assured: IP_VS_CTPL_S_ASSURED");
    assert_eq!(
        (t.vip, t.rip, t.timeout),
        ((be(VIP), 80), (be(RS1), 80), 120)
    );
}

/// A template is sent with the client it was made for, masked by the `-M`
/// of then, as `ip_vs_sync_conn` sends `cp->control`'s address: after an
/// `-M` change, a connection's report named the template it holds by its
/// client masked anew (a /24 key with the /32 template's server), so a
/// backup's /24 template flipped between servers.
#[test]
fn a_template_is_sent_with_the_client_it_was_made_for() {
    let rules = |mask: &str| {
        [
            format!("-A -t 198.18.0.110:80 -s rr -p 120{mask}"),
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m".to_string(),
        ]
    };
    let first = rules("");
    let mut d = MemDirector::new(&first.iter().map(String::as_str).collect::<Vec<_>>());
    d.resolve_all();
    set(&d, true, false);
    handshake(&mut d);
    let _ = reports(&d);
    let masked = rules(" -M 255.255.255.0");
    d.reconfigure(&masked.iter().map(String::as_str).collect::<Vec<_>>());
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, FIN | ACK));
    let r = reports(&d);
    let t = r.iter().find(|e| e.template).expect("template reported");
    assert_eq!(t.client, (be(CLIENT), 0), "{r:?}");
}

/// A template is sent in its own state, as `ip_vs_sync_conn` sends
/// `cp->control`'s: assured once any of its connections was (a UDP reply,
/// `ip_vs_control_assure_ct`), also when the connection reporting it was
/// not. It used to be sent with the reporting connection's bit, so a
/// client's second datagram from a new port told a backup its template was
/// `IP_VS_CTPL_S_NONE`.
#[test]
fn a_template_is_sent_assured_by_any_of_its_connections() {
    let rules = &[
        "-A -u 198.18.0.110:53 -s rr -p 300",
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
    ];
    let mut d = MemDirector::new(rules);
    d.resolve_all();
    set(&d, true, false);
    d.ext(&udp_frame(&L3::to_vip(), 5000, 53, b"q", true));
    d.int(&udp_frame(&L3::from_rs(RS1, CLIENT), 53, 5000, b"a", true));
    let _ = reports(&d);
    d.ext(&udp_frame(&L3::to_vip(), 5001, 53, b"q", true));
    let r = reports(&d);
    let t = r.iter().find(|e| e.template).expect("template reported");
    assert_eq!(t.state, State::Established, "IP_VS_CTPL_S_ASSURED: {r:?}");
    let c = r.iter().find(|e| !e.template).expect("connection reported");
    assert_eq!(c.client.1, 5001);
}

/// As IPVS's master (`ip_vs_conn_expire`, `ip_vs_conn.c`: a template whose
/// `n_control` is not 0 when its timer fires is re-armed for 60 s,
/// `expire_later`, which calls `ip_vs_sync_conn` for it), a persistence
/// template that outlives its `-p` because a connection still uses it is
/// reported at each re-arm: as a template, assured, with 60 s as its
/// timeout, in the second of the re-arm (the sweep takes in the shard
/// where a template ran out, not only its own share of them). Without a
/// master daemon it is kept and not reported.
#[test]
fn a_template_kept_for_its_connection_is_synced_at_each_re_arm() {
    let rules = &[
        "-A -t 198.18.0.110:80 -s rr -p 120 -M 255.255.255.0",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ];
    let mut d = MemDirector::new(rules);
    d.resolve_all();
    // The re-arms alone: no resend sweep.
    d.shared.ha.set_resend_s(0);
    set(&d, true, false);
    handshake(&mut d);
    let first = reports(&d);
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(first[1].timeout, 120, "the template, its -p");
    // The connection, ESTABLISHED (900 s), lives through; second by second.
    let mut got = Vec::new();
    for t in 1..=440 {
        d.advance(Duration::from_secs(1));
        d.poll();
        got.extend(reports(&d).into_iter().map(|e| (t, e)));
    }
    // Its -p ran out at 120, then each 60 s re-arm.
    let marks = [120, 180, 240, 300, 360, 420];
    assert_eq!(got.len(), marks.len(), "{got:?}");
    for ((t, e), mark) in got.iter().zip(marks) {
        assert_eq!(*t, mark, "re-armed at {mark}, sent at {t}");
        assert_eq!((e.template, e.timeout), (true, 60), "{e:?}");
        assert_eq!(e.state, State::Established, "IP_VS_CTPL_S_ASSURED");
        assert_eq!((e.proto, e.client), (6, (be(CLIENT) & 0xffff_ff00, 0)));
        assert_eq!((e.vip, e.rip), ((be(VIP), 80), (be(RS1), 80)));
        assert_eq!((e.forward, e.fwmark), (ringvs::config::Forward::Masq, 0));
    }
    assert_eq!(d.ctr(Ctr::SyncReported), 2 + marks.len() as u64);
    // No master daemon: re-armed as before, not reported.
    set(&d, false, false);
    for _ in 0..130 {
        d.advance(Duration::from_secs(1));
        d.poll();
    }
    assert!(reports(&d).is_empty());
    let templates = d.conns(0).into_iter().filter(|c| c.template).count();
    assert_eq!(templates, 1, "the template kept");
    // The connection's next report brings the template with the timeout it
    // has now, 60 s (IPVS sends a template's `cp->timeout`).
    set(&d, true, false);
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, FIN | ACK));
    let r = reports(&d);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!((r[0].state, r[0].template), (State::CloseWait, false));
    assert_eq!((r[1].template, r[1].timeout), (true, 60));
}

/// A template re-armed after its real server was removed (`-d`) is still
/// reported at each re-arm, to that server by its method (DR here), as the
/// kernel's: its template keeps its dest, in the trash, and the forwarding
/// bits in its flags, and `expire_later` syncs it (`ip_vs_conn_expire`,
/// `ip_vs_conn.c`). A backup that still has the server extends its copy; one
/// that removed it too drops it as `sync_drop_unknown_dest`.
#[test]
fn a_template_whose_server_was_removed_is_synced_at_each_re_arm() {
    use ringvs::config::Forward;
    let mut d = removed_dr_server();
    // The connection (ESTABLISHED, 900 s) keeps the template past its -p.
    let mut got = Vec::new();
    for t in 1..=200 {
        d.advance(Duration::from_secs(1));
        d.poll();
        got.extend(reports(&d).into_iter().map(|e| (t, e)));
    }
    let marks = [120, 180];
    assert_eq!(got.len(), marks.len(), "{got:?}");
    for ((t, e), mark) in got.iter().zip(marks) {
        assert_eq!(*t, mark, "re-armed at {mark}, sent at {t}");
        assert_eq!(
            (e.template, e.timeout, e.state),
            (true, 60, State::Established)
        );
        assert_eq!(
            (e.client, e.vip),
            ((be(CLIENT) & 0xffff_ff00, 0), (be(VIP), 80))
        );
        assert_eq!((e.rip, e.forward), ((be(RS1), 80), Forward::Route));
    }
}

/// A sync master whose persistent DR service's one real server (RS1) was
/// removed (`-d`, published as the control thread publishes: after the
/// snapshot the workers run) while a client's connection and template on
/// it live; the resend sweep off, the reports drained.
fn removed_dr_server() -> MemDirector {
    use ringvs::config::{Forward, Proto, ServiceKey};
    let rules = &[
        "-A -t 198.18.0.110:80 -s rr -p 120 -M 255.255.255.0",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -g",
    ];
    let svc = ServiceKey::new(Proto::Tcp, VIP, 80);
    let (d, first) = removed_server(rules, svc, 80);
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(
        (first[1].template, first[1].forward),
        (true, Forward::Route)
    );
    d
}

/// A sync master with `rules` (one service `svc` taking TCP to VIP, RS1
/// its DR server), a client's connection to VIP:`dport` established on
/// RS1, then RS1 removed and the rules published; the director and what it
/// reported before the removal, the resend sweep off.
fn removed_server(rules: &[&str], svc: ServiceKey, dport: u16) -> (MemDirector, Vec<SyncEntry>) {
    let mut d = MemDirector::new(rules);
    d.resolve_all();
    d.shared.ha.set_resend_s(0);
    set(&d, true, false);
    // DR sees the client's side only: SYN, then ACK, ESTABLISHED.
    assert_eq!(
        d.ext(&tcp_frame(&L3::to_vip(), CPORT, dport, SYN)).1.len(),
        1
    );
    assert_eq!(
        d.ext(&tcp_frame(&L3::to_vip(), CPORT, dport, ACK)).1.len(),
        1
    );
    let first = reports(&d);
    let t = first.iter().find(|e| e.template).expect("its template");
    d.cfg.del_dest(&svc, RS1, t.rip.1).expect("configured");
    let prev = d.shared.config.load_full();
    let next = ringvs::nat::Snapshot::build_from(&d.cfg, Default::default(), Some(&prev));
    d.shared.config.store(std::sync::Arc::new(next));
    d.shared.bump();
    (d, first)
}

/// A connection whose real server was removed is resent with its
/// template, to the server the template holds and by its method, as
/// `ip_vs_sync_conn` sends `cp->control`, whose dest (in the trash) the
/// kernel keeps; it went without it.
#[test]
fn a_removed_servers_connection_is_resent_with_its_template() {
    use ringvs::config::Forward;
    let mut d = removed_dr_server();
    let got = resent(&mut d);
    let conn = got.iter().position(|e| !e.template).expect("resent");
    let t = got.get(conn + 1).expect("its template after it");
    assert!(t.template, "{got:?}");
    assert_eq!((t.rip, t.forward), ((be(RS1), 80), Forward::Route));
    assert_eq!(t.client, (be(CLIENT) & 0xffff_ff00, 0));
}

/// What `d` reports over 12 s with the resend sweep on (every 10 s).
fn resent(d: &mut MemDirector) -> Vec<SyncEntry> {
    d.shared.ha.set_resend_s(10);
    let mut got = Vec::new();
    for _ in 0..12 {
        d.advance(Duration::from_secs(1));
        d.poll();
        got.extend(reports(d));
    }
    got
}

/// On a port-0 service a connection keeps the client's port (443 here),
/// while its template holds the server's own (0: ipvsadm gives a DR server
/// the service's port): once the server is
/// removed, a resend of the connection still brings the template, to the
/// address and port the template holds (looked up with its timeout) and by
/// the server's method, as `ip_vs_sync_conn` sends `cp->control` with its
/// own dest; not at the connection's port, which a backup with a server on
/// :443 would bind the client to. It went without it.
#[test]
fn a_removed_servers_port_0_template_is_resent_as_it_holds_it() {
    let rules = &[
        "-A -t 198.18.0.110:0 -s rr -p 120",
        "-a -t 198.18.0.110:0 -r 198.19.0.2:80 -g",
    ];
    let svc = ServiceKey::new(Proto::Tcp, VIP, 0);
    let (mut d, first) = removed_server(rules, svc, 443);
    let held = first.iter().find(|e| e.template).expect("its template");
    assert_eq!(held.rip, (be(RS1), 0), "{first:?}");
    let got = resent(&mut d);
    assert_resent_with(&got, held);
}

/// What `got` (resent) holds: connections, each followed by its template,
/// `held` as it was reported before its server was removed, with the
/// template's timeout (its `-p`, 120 s, not re-armed yet).
fn assert_resent_with(got: &[SyncEntry], held: &SyncEntry) {
    let conns = got.iter().filter(|e| !e.template).count();
    assert!(conns > 0, "resent: {got:?}");
    assert_eq!(got.len(), 2 * conns, "each with its template: {got:?}");
    for pair in got.chunks(2) {
        let (c, t) = (&pair[0], &pair[1]);
        assert!(!c.template && t.template, "{got:?}");
        assert_eq!(
            *t,
            SyncEntry {
                timeout: 120,
                ..*held
            },
            "{got:?}"
        );
    }
    assert_eq!(held.forward, Forward::Route);
}

/// A firewall-mark service's template is keyed by the mark (protocol 0,
/// the mark as the address, port 0) and holds the server's port (80),
/// while the connection keeps the client's (443): once the server is
/// removed, a resend of the connection still brings it, as it holds it.
#[test]
fn a_removed_servers_fwmark_template_is_resent_as_it_holds_it() {
    let rules = &[
        "-A -f 1 -s rr -p 120 --mark-dest tcp:198.18.0.110:80,443",
        "-a -f 1 -r 198.19.0.2:80 -g",
    ];
    let (mut d, first) = removed_server(rules, ServiceKey::fwmark(1, false), 443);
    let held = first.iter().find(|e| e.template).expect("its template");
    assert_eq!((held.proto, held.vip), (0, (1, 0)), "{first:?}");
    assert_eq!((held.rip, held.fwmark), ((be(RS1), 80), 1));
    let got = resent(&mut d);
    assert_resent_with(&got, held);
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
            out_seq: None,
            fwmark: 0,
        },
        dest: d.dest_id(ringvs::config::Proto::Tcp, 80, RS2, 80),
        server: Resolved {
            svc: (6, be(VIP), 80),
            addr: be(RS2),
            port: 80,
        },
        keep_seq: false,
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

/// A client beyond the external prefix (198.18.0.2/24): reachable only
/// through a `--gateway`, which `env()` has not.
const OFF_LINK: Ipv4Addr = Ipv4Addr::new(198, 18, 5, 1);

/// `synced`'s entry of `proto` from `client`:`CPORT` to VIP:`vport` on
/// real server `rip`:`vport`, for a director with `d`'s rules.
fn synced_to(
    d: &MemDirector,
    proto: Proto,
    client: Ipv4Addr,
    rip: Ipv4Addr,
    vport: u16,
) -> Install {
    let (p, state, timeout) = match proto {
        Proto::Udp => (17, State::Udp, 300),
        _ => (6, State::Established, 900),
    };
    let mut i = synced(d, state);
    i.entry.proto = p;
    i.entry.client.0 = be(client);
    i.entry.vip.1 = vport;
    i.entry.rip = (be(rip), vport);
    i.entry.timeout = timeout;
    i.dest = d.dest_id(proto, vport, rip, vport);
    i.server = Resolved {
        svc: (p, be(VIP), vport),
        addr: be(rip),
        port: vport,
    };
    i
}

/// A connection the sync daemon installed from a master this director
/// does not have the addressing of (no `--gateway` here, a real server
/// off the DIP's prefix) has no next hop once it takes over: its packets,
/// the later fragments of a datagram too, are dropped as `drop_no_dest`
/// (a server, or client, the director cannot reach), not as
/// `drop_no_service`, which is for packets of no service or connection.
#[test]
fn a_synced_connection_with_no_next_hop_here_is_dropped_as_no_dest() {
    let mut rules = STANDARD.to_vec();
    rules.extend([
        "-a -t 198.18.0.110:80 -r 198.19.9.9:80 -m",
        "-A -u 198.18.0.110:53 -s rr",
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
    ]);
    let mut d = MemDirector::new(&rules);
    d.resolve_all();
    set(&d, false, true);
    let installs = [
        synced_to(&d, Proto::Tcp, OFF_LINK, RS2, 80),
        synced_to(&d, Proto::Tcp, CLIENT, Ipv4Addr::new(198, 19, 9, 9), 80),
        synced_to(&d, Proto::Udp, OFF_LINK, RS1, 53),
    ];
    for i in installs {
        d.sync.installs[0].send(i).expect("queued");
    }
    d.poll();
    assert_eq!(d.ctr(Ctr::SyncInstalled), 3);
    set(&d, false, false);

    let nothing = |(ext, int): (Vec<Vec<u8>>, Vec<Vec<u8>>)| ext.is_empty() && int.is_empty();
    // The reply towards the off-link client.
    let reply = tcp_frame(&L3::from_rs(RS2, OFF_LINK), 80, CPORT, ACK | PSH);
    assert!(nothing(d.int(&reply)));
    assert_eq!(d.ctr(Ctr::DropNoDest), 1);
    // The client's packet towards the server off the DIP's prefix.
    assert!(nothing(d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, ACK))));
    assert_eq!(d.ctr(Ctr::DropNoDest), 2);
    // A reply datagram in two fragments: the first on the connection's
    // path, the second on the fragments' own (`frag_nat.rs`).
    let big = udp_frame(&L3::from_rs(RS1, OFF_LINK), 53, CPORT, &[7; 1200], true);
    for f in cut(&big, 800) {
        assert!(nothing(d.int(&f)));
    }
    assert_eq!(d.ctr(Ctr::DropNoDest), 4, "{:?}", drops(&d.w().core.ctr));
    // The server's ICMP error about the off-link client's packet, for the
    // client (`Core::icmp`'s translation).
    let got = L3 {
        src: OFF_LINK,
        dst: RS2,
        ..L3::to_vip()
    };
    let got = tcp_frame(&got, CPORT, 80, ACK);
    let err = icmp_error(&L3::from_rs(RS2, OFF_LINK), 3, 3, [0; 4], &got, 40);
    assert!(nothing(d.int(&err)));
    assert_eq!(d.ctr(Ctr::DropNoDest), 5, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(d.ctr(Ctr::DropNoService), 0);
    assert_eq!(drops(&d.w().core.ctr), [("drop_no_dest", 5)]);
    assert_eq!(d.ctr(Ctr::FwdIn) + d.ctr(Ctr::FwdOut), 0);
}

/// A sync message (syncid 3) of one established connection from the
/// client's port `cport` to VIP:80, on real server `daddr`:80.
fn message(cport: u16, daddr: Ipv4Addr) -> Vec<u8> {
    message_in(cport, daddr, State::Established)
}

/// [`message`] with the connection in `state`.
fn message_in(cport: u16, daddr: Ipv4Addr, state: State) -> Vec<u8> {
    use ringvs::sync::wire;
    let e = wire::SyncConn {
        proto: 6,
        flags: wire::nat_flags(false, state),
        state: wire::state_to_ipvs(state),
        caddr: CLIENT,
        cport,
        vaddr: VIP,
        vport: 80,
        daddr,
        dport: 80,
        fwmark: 0,
        timeout: 900,
        seq: None,
        pe: None,
    };
    let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
    let mut m = wire::MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 3).expect("buffer");
    m.push(&e).expect("fits");
    m.as_bytes().to_vec()
}

/// An entry the backup daemon resolved against the rules from before its
/// real server was removed, installed once the worker has rules that give
/// the server's id to another (rules built anew hand the ids out in turn;
/// the trash frees a removed server's id once nothing it sees names it,
/// and the install queue is not looked at): refused, not a connection to
/// the old address counted as the new server's.
#[test]
fn an_install_resolved_before_its_server_left_is_refused_once_its_id_is_another_servers() {
    use ringvs::config::Proto;
    use std::sync::atomic::Ordering::Relaxed;
    let mut d = MemDirector::standard();
    set(&d, false, true);
    let intake = d.intake(3, &env());
    let id = d.dest_id(Proto::Tcp, 80, RS2, 80);
    intake.message(&message(CPORT, RS2));
    assert_eq!(intake.counters.conns_queued.load(Relaxed), 1);
    // RS2 removed before the worker ran; a new server has its id.
    let new = std::net::Ipv4Addr::new(198, 19, 0, 9);
    d.reconfigure(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.9:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    assert_eq!(d.dest_id(Proto::Tcp, 80, new, 80), id, "the id reused");
    d.poll();
    assert_eq!(d.ctr(Ctr::SyncInstallFailed), 1);
    assert_eq!(d.ctr(Ctr::SyncInstalled), 0);
    assert!(
        d.conns(0).is_empty(),
        "no connection on the new server's id"
    );
    assert_eq!(
        d.published[0].gauges.get(id),
        (0, 0),
        "the new server's gauges"
    );
    // An entry for a server that stayed is installed.
    intake.message(&message(CPORT + 1, RS1));
    d.poll();
    assert_eq!(d.ctr(Ctr::SyncInstalled), 1);
    let c = d.conns(0);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].dest, (RS1.into(), 80));
    assert_eq!(
        d.ctr(Ctr::SyncInstallWaited),
        0,
        "the worker's rules were current"
    );
}

/// Publish `rules` as the control thread does up to its epoch: stored, the
/// epoch not moved yet, so a worker runs the rules it loaded until
/// [`ringvs::dataplane::Shared::bump`] (as when a publish lands after the
/// worker's load at the start of its pass).
fn store_rules(d: &mut MemDirector, rules: &[&str]) {
    use ringvs::nat::{Snapshot, Timeouts};
    d.cfg = config(rules);
    let s = Snapshot::build(&d.cfg, Timeouts::default());
    d.shared.config.store(std::sync::Arc::new(s));
}

/// The other way round: the backup daemon resolved an entry against rules
/// published after the worker loaded its own, to a server just added (an
/// id the worker's rules do not have yet). The entry, and the one queued
/// behind it, wait for the worker's next load of the rules and then go in,
/// in order, where the first was refused and lost until the master's next
/// report of it. One whose server the rules the worker then loads do not
/// have is refused.
#[test]
fn an_install_resolved_against_rules_the_worker_has_not_loaded_waits_for_them() {
    use ringvs::config::Proto;
    let mut d = MemDirector::standard();
    set(&d, false, true);
    d.poll();
    let intake = d.intake(3, &env());
    let (rs9, rs10) = (Ipv4Addr::new(198, 19, 0, 9), Ipv4Addr::new(198, 19, 0, 10));
    let with = |rs: &'static str| [STANDARD[0], STANDARD[1], STANDARD[2], rs];
    store_rules(&mut d, &with("-a -t 198.18.0.110:80 -r 198.19.0.9:80 -m"));
    intake.message(&message(CPORT, rs9));
    intake.message(&message(CPORT + 1, RS1));
    d.poll();
    d.poll();
    let counts = |d: &MemDirector| {
        [
            Ctr::SyncInstallWaited,
            Ctr::SyncInstalled,
            Ctr::SyncInstallFailed,
        ]
        .map(|c| d.ctr(c))
    };
    assert_eq!(counts(&d), [1, 0, 0], "both wait for the worker's load");
    d.shared.bump();
    d.poll();
    assert_eq!(counts(&d), [1, 2, 0], "both installed once it loaded them");
    let mut c = d.conns(0);
    c.sort_by_key(|c| c.client.1);
    let got: Vec<_> = c.iter().map(|c| (c.client.1, c.dest.0)).collect();
    assert_eq!(got, [(CPORT, rs9.into()), (CPORT + 1, RS1.into())]);
    let id9 = d.dest_id(Proto::Tcp, 80, rs9, 80);
    assert_eq!(d.published[0].gauges.get(id9), (1, 0), "rs9's gauges");
    // An entry for a server just added waits as before; the rules the
    // worker loads next have removed it again: refused.
    store_rules(&mut d, &with("-a -t 198.18.0.110:80 -r 198.19.0.10:80 -m"));
    intake.message(&message(CPORT + 2, rs10));
    d.poll();
    assert_eq!(counts(&d), [2, 2, 0]);
    store_rules(&mut d, STANDARD);
    d.shared.bump();
    d.poll();
    assert_eq!(counts(&d), [2, 2, 1]);
    assert_eq!(d.conns(0).len(), 2);
    // Two reports of one connection, the second queued behind the first
    // while it waits: they go in in order, so the later state holds.
    store_rules(&mut d, &with("-a -t 198.18.0.110:80 -r 198.19.0.10:80 -m"));
    intake.message(&message_in(CPORT + 3, rs10, State::Established));
    intake.message(&message_in(CPORT + 3, rs10, State::FinWait));
    d.poll();
    assert_eq!(counts(&d), [3, 2, 1], "waiting");
    d.shared.bump();
    d.poll();
    // The first installed, the second updated it (neither lost).
    assert_eq!(counts(&d), [3, 3, 1]);
    assert_eq!(d.ctr(Ctr::SyncUpdated), 1);
    let c = d.conns(0);
    let c = c
        .iter()
        .find(|c| c.client.1 == CPORT + 3)
        .expect("installed");
    assert_eq!((c.dest.0, c.state), (rs10.into(), State::FinWait));
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

/// On a standby, a message naming a known connection with another real
/// server replaces it when active (its ports reused for a new connection)
/// and is ignored when not: the late expiry of the connection it replaced
/// (`ip_vs_proc_conn`, `ip_vs_sync.c`).
#[test]
fn a_standby_takes_reused_ports_but_not_the_old_connections_late_expiry() {
    let mut d = MemDirector::standard();
    set(&d, false, true);
    // One entry for the client's connection on `rs` installed; the table after.
    let install = |d: &mut MemDirector, rs, state| {
        let mut i = synced(d, state);
        i.entry.rip = (be(rs), 80);
        i.dest = d.dest_id(ringvs::config::Proto::Tcp, 80, rs, 80);
        i.server.addr = be(rs);
        d.sync.installs[0].send(i).expect("queued");
        d.poll();
        let c = d.conns(0);
        (c.len(), c[0].state, c[0].dest.0)
    };
    let established_on_rs2 = (1, State::Established, RS2.into());
    install(&mut d, RS1, State::TimeWait);
    // The ports reused for an established connection to RS2: replaced.
    assert_eq!(install(&mut d, RS2, State::Established), established_on_rs2);
    assert_eq!(d.ctr(Ctr::SyncInstalled), 2);
    // The RS1 connection's late TIME_WAIT: ignored, RS2's stays.
    assert_eq!(install(&mut d, RS1, State::TimeWait), established_on_rs2);
    assert_eq!((d.ctr(Ctr::SyncKept), d.ctr(Ctr::SyncInstalled)), (1, 2));
}

/// One real server, RS1, overloaded at 4 connections (`-x 4`, no `-y`: available
/// again below 3).
const OVERLOAD: &[&str] = &[
    "-A -t 198.18.0.110:80 -s rr",
    "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -x 4",
];

/// A client SYN from `port`: whether it was forwarded to RS1 (else RS1 was
/// unavailable, overloaded, and the SYN refused).
fn syn_to_rs1(d: &mut MemDirector, port: u16) -> bool {
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), port, 80, SYN));
    let to_rs1 = int.iter().any(|f| parse_ip(f).dst == RS1);
    assert_eq!(to_rs1, int.len() == 1, "{port}");
    to_rs1
}

/// RS1's connections (active, inactive) on the one worker.
fn rs1_conns(d: &MemDirector) -> (u32, u32) {
    d.published[0]
        .gauges
        .get(d.dest_id(ringvs::config::Proto::Tcp, 80, RS1, 80))
}

/// The overload flag follows every bind and unbind, as IPVS's does
/// (`ip_vs_bind_dest`, `ip_vs_unbind_dest`, `ip_vs_conn.c`), not only the
/// picks: RS1 overloaded at 4, down to 2 by expiry (the kernel clears the
/// flag there, below 3/4 of 4), then up to 3 by a synced connection with no
/// pick in between, is available to the next SYN. Checked only at picks, the
/// flag stayed set from the pick that saw 4, and 3 kept it.
#[test]
fn an_overload_ended_by_expiries_stays_ended_when_a_synced_connection_binds() {
    let mut d = MemDirector::new(OVERLOAD);
    d.resolve_all();
    let intake = d.intake(3, &env());
    // Half-open connections (SYN_RECV, 60 s): two at 0 s, two at 30 s.
    assert!(syn_to_rs1(&mut d, 1) && syn_to_rs1(&mut d, 2));
    d.advance(Duration::from_secs(30));
    assert!(syn_to_rs1(&mut d, 3) && syn_to_rs1(&mut d, 4));
    assert!(!syn_to_rs1(&mut d, 5), "4 connections: overloaded");
    assert_eq!(d.ctr(Ctr::DropNoDest), 1);
    // At 61 s the first two expire: 2 left.
    d.advance(Duration::from_secs(31));
    d.poll();
    assert_eq!(rs1_conns(&d), (2, 0));
    // A synced established connection to RS1: 3.
    intake.message(&message(CPORT, RS1));
    d.poll();
    assert_eq!(d.ctr(Ctr::SyncInstalled), 1);
    assert_eq!(rs1_conns(&d), (3, 0));
    assert!(
        syn_to_rs1(&mut d, 6),
        "3 after the overload ended: available"
    );
    assert!(!syn_to_rs1(&mut d, 7), "4 again: overloaded");
    assert_eq!(d.ctr(Ctr::DropNoDest), 2);
}

/// An eviction from a full table unbinds as an expiry does
/// (`evict_one_of`; the kernel's `ip_vs_random_dropentry` expires the
/// connection, `ip_vs_conn_expire` unbinds it): RS1 overloaded at 4
/// half-open connections, two of them evicted by new connections of
/// another service (2 left: cleared), the other two by synced connections
/// to RS1, and a third synced one takes it to 3 with no pick in between;
/// the next SYN finds RS1 available. Without the unbind the flag stayed
/// set, and 3 kept it.
#[test]
fn an_overload_ended_by_evictions_stays_ended_when_synced_connections_bind() {
    let mut rules = OVERLOAD.to_vec();
    rules.extend([
        "-A -t 198.18.0.110:81 -s rr",
        "-a -t 198.18.0.110:81 -r 198.19.0.3:81 -m",
    ]);
    let mut d = MemDirector::with_env(1, &rules, env(), 16);
    d.resolve_all();
    let intake = d.intake(3, &env());
    let cap = d.w().core.table.capacity();
    for p in 1..=4 {
        assert!(syn_to_rs1(&mut d, p));
    }
    assert!(!syn_to_rs1(&mut d, 5), "4 connections: overloaded");
    d.advance(Duration::from_secs(1));
    let to_81 = |d: &mut MemDirector, port: u16| {
        let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), port, 81, SYN));
        assert_eq!(int.len(), 1, "{port}");
    };
    let others = u16::try_from(cap - 4).expect("a small table");
    for p in 0..others + 2 {
        to_81(&mut d, 20000 + p);
    }
    assert_eq!(d.ctr(Ctr::ConnEvicted), 2);
    d.poll();
    assert_eq!(rs1_conns(&d), (2, 0));
    for p in 0..3 {
        intake.message(&message(CPORT + p, RS1));
    }
    d.poll();
    assert_eq!(d.ctr(Ctr::SyncInstalled), 3);
    assert_eq!(d.ctr(Ctr::ConnEvicted), 5);
    assert_eq!(rs1_conns(&d), (3, 0), "the synced three");
    assert!(
        syn_to_rs1(&mut d, 6),
        "3 after the overload ended: available"
    );
}

/// Binds with no pick set the flag too: four synced connections take RS1
/// to its threshold (the kernel's `ip_vs_bind_dest` sets the overload
/// there), one expires (3: not below 3/4 of 4, the overload stays), and
/// the next SYN finds RS1 overloaded. Checked only at picks, the first
/// pick saw 3 and took RS1.
#[test]
fn synced_connections_that_reach_the_threshold_overload_the_server_before_any_pick() {
    let mut d = MemDirector::new(OVERLOAD);
    d.resolve_all();
    let intake = d.intake(3, &env());
    // Three established (900 s) and one half-open (SYN_RECV, 60 s).
    for p in 0..3 {
        intake.message(&message(CPORT + p, RS1));
    }
    intake.message(&message_in(CPORT + 3, RS1, State::SynRecv));
    d.poll();
    assert_eq!(d.ctr(Ctr::SyncInstalled), 4);
    assert_eq!(rs1_conns(&d), (4, 0));
    d.advance(Duration::from_secs(61));
    d.poll();
    assert_eq!(rs1_conns(&d), (3, 0), "the half-open one expired");
    assert!(!syn_to_rs1(&mut d, 1), "overloaded since the 4th bind");
    assert_eq!(d.ctr(Ctr::DropNoDest), 1);
}

/// An unbind by a synced connection replacing one on another server
/// (`drop_conn_of`, as `ip_vs_conn_expire_now` unbinds it) ends an overload
/// as an expiry does: on a standby, four synced connections overload RS1,
/// two of their ports are reused for connections to RS2 (2 left on RS1:
/// cleared), a new synced connection takes RS1 to 3; once active, RS1 is
/// available and takes one of the next two SYNs (rr over RS1 and RS2).
#[test]
fn an_overload_ended_by_replaced_connections_stays_ended_when_a_synced_connection_binds() {
    let mut d = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -x 4",
    ]);
    d.resolve_all();
    set(&d, false, true);
    let intake = d.intake(3, &env());
    for p in 0..4 {
        intake.message(&message(CPORT + p, RS1));
    }
    d.poll();
    assert_eq!(rs1_conns(&d), (4, 0));
    for p in 0..2 {
        intake.message(&message(CPORT + p, RS2));
    }
    d.poll();
    assert_eq!(rs1_conns(&d), (2, 0), "two replaced");
    intake.message(&message(CPORT + 4, RS1));
    d.poll();
    assert_eq!((d.ctr(Ctr::SyncInstalled), rs1_conns(&d)), (7, (3, 0)));
    set(&d, false, false);
    let to = |d: &mut MemDirector, port| {
        let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), port, 80, SYN));
        assert_eq!(int.len(), 1, "{port}");
        parse_ip(&int[0]).dst
    };
    let got = [to(&mut d, 1), to(&mut d, 2)];
    assert!(got.contains(&RS1), "{got:?}");
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

/// The established connection of CLIENT:CPORT to VIP:80 on real server
/// `rs:port`, as a master syncs it.
fn synced_v4(rs: std::net::Ipv4Addr, port: u16) -> ringvs::sync::wire::SyncConn {
    use ringvs::sync::wire;
    wire::SyncConn {
        proto: 6,
        flags: wire::nat_flags(false, State::Established),
        state: wire::state_to_ipvs(State::Established),
        caddr: CLIENT,
        cport: CPORT,
        vaddr: VIP,
        vport: 80,
        daddr: rs,
        dport: port,
        fwmark: 0,
        timeout: 900,
        seq: None,
        pe: None,
    }
}

/// The backup daemon's intake (the daemon without its socket) on a
/// director's own channels: one message of both families installs the IPv4
/// connection in the table of the worker owning its client (`Env::owner`)
/// and the IPv6 one, resolved to its real server, in the IPv6 table of the
/// worker owning its IPv6 client (`Env::owner6`).
#[test]
fn a_backup_message_of_both_families_reaches_the_owning_workers() {
    use ringvs::sync::wire::{self, MessageBuilder, SyncConn};
    use std::net::Ipv6Addr;

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
    let intake = d.intake(7, &env);
    let v4 = synced_v4(RS2, 80);
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
        pe: None,
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
    let owner6 = env.owner6((ip6("2001:2:0:1::10"), CPORT), 2);
    for k in 0..2 {
        let installed = d.workers[k].core.ctr.get(Ctr::SyncInstalled);
        let want = u64::from(k == owner4) + u64::from(k == owner6);
        assert_eq!(installed, want, "worker {k}");
        assert_eq!(d.workers[k].core.table.len(), usize::from(k == owner4));
        assert_eq!(d.workers[k].core.table6.len(), usize::from(k == owner6));
    }
    let conns = d.conns(owner4);
    let c4 = conns
        .iter()
        .find(|c| c.client.0.is_ipv4())
        .expect("the IPv4 connection listed");
    assert_eq!(
        (c4.state, c4.dest.0),
        (State::Established, std::net::IpAddr::V4(RS2))
    );
    assert!(d.sync.installs6.iter().all(|q| q.is_empty()), "drained");
    let conns = d.conns(owner6);
    let c6 = conns
        .iter()
        .find(|c| c.client.0.is_ipv6())
        .expect("the IPv6 connection listed");
    assert_eq!(
        (c6.state, c6.dest),
        (State::Established, (ip6("2001:2:0:2::2").into(), 80))
    );
}

/// A standby director with `rules` that has installed `conn`, received in a
/// message of its sync daemon's intake (asserted queued, not dropped).
fn standby_with(rules: &[&str], conn: ringvs::sync::wire::SyncConn) -> MemDirector {
    use ringvs::sync::wire::{self, MessageBuilder};
    let mut d = MemDirector::new(rules);
    d.resolve_all();
    set(&d, false, true);
    let env = env();
    let intake = d.intake(7, &env);
    let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
    let mut m = MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 7).expect("buffer");
    m.push(&conn).expect("fits");
    intake.message(m.as_bytes());
    let queued = intake
        .counters
        .conns_queued
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(queued, 1, "{:?}", intake.counters.drops());
    d.poll();
    d
}

/// A master's report of a template it re-armed for 60 s (IPVS's
/// `expire_later`, `ip_vs_conn.c`) is taken whole by a backup whose `-p`
/// is shorter: a report's timeout is capped at the larger of `-p` and 60 s,
/// so the backup's copy does not go before the master's.
#[test]
fn a_templates_60_s_re_arm_report_is_not_cut_to_a_shorter_persistence() {
    use ringvs::sync::wire::{self, MessageBuilder};
    let rules = [
        "-A -t 198.18.0.110:80 -s rr -p 30",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ];
    let mut d = MemDirector::new(&rules);
    d.resolve_all();
    set(&d, false, true);
    let intake = d.intake(7, &env());
    let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
    let mut m = MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 7).expect("buffer");
    let template = |client: std::net::Ipv4Addr, timeout: u32| wire::SyncConn {
        proto: 6,
        flags: wire::flags::TEMPLATE,
        state: wire::ipvs_state::CTPL_ASSURED,
        caddr: client,
        cport: 0,
        vaddr: VIP,
        vport: 80,
        daddr: std::net::Ipv4Addr::new(198, 19, 0, 2),
        dport: 80,
        fwmark: 0,
        timeout,
        seq: None,
        pe: None,
    };
    let (a, b, c) = (
        std::net::Ipv4Addr::new(198, 18, 0, 1),
        std::net::Ipv4Addr::new(198, 18, 0, 2),
        std::net::Ipv4Addr::new(198, 18, 0, 3),
    );
    m.push(&template(a, 60)).expect("fits");
    m.push(&template(b, 20)).expect("fits");
    m.push(&template(c, 900)).expect("fits");
    intake.message(m.as_bytes());
    let installed = intake
        .counters
        .templates_installed
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(installed, 3, "{:?}", intake.counters.drops());
    let listed: std::collections::BTreeMap<_, _> = d
        .conns(0)
        .into_iter()
        .filter(|t| t.template)
        .map(|t| (t.client.0, t.expires_in))
        .collect();
    let want = [(a, 60), (b, 20), (c, 60)]
        .into_iter()
        .map(|(ip, s)| (std::net::IpAddr::V4(ip), s))
        .collect();
    assert_eq!(listed, want, "60 s whole, 20 s as sent, 900 s capped");
}

/// A connection a standby installs on its master's template is linked to
/// it as a scheduled one is: leaving while its service is not persistent
/// (`-E` without `-p`), it is taken off the template all the same (IPVS's
/// `ip_vs_control_del` through `cp->control`), and with `-p` back the
/// template expires by its own timeout. Before, it looked the template up
/// through the rules, found none, and the template counted it for ever.
#[test]
fn a_synced_connection_leaving_while_its_service_is_not_persistent_lets_its_template_go() {
    use ringvs::sync::wire::{self, MessageBuilder};
    let mut d = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr -p 300",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    d.resolve_all();
    set(&d, false, true);
    let intake = d.intake(7, &env());
    let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
    let mut m = MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 7).expect("buffer");
    let entry = |flags, state, cport, timeout| wire::SyncConn {
        proto: 6,
        flags,
        state,
        caddr: CLIENT,
        cport,
        vaddr: VIP,
        vport: 80,
        daddr: RS1,
        dport: 80,
        fwmark: 0,
        timeout,
        seq: None,
        pe: None,
    };
    let close = wire::state_to_ipvs(State::Close);
    m.push(&entry(wire::flags::TEMPLATE, 0, 0, 300))
        .expect("fits");
    m.push(&entry(
        wire::nat_flags(false, State::Close),
        close,
        CPORT,
        10,
    ))
    .expect("fits");
    intake.message(m.as_bytes());
    d.poll();
    let listed = |d: &mut MemDirector| {
        let l = d.conns(0);
        let n = l.iter().filter(|c| !c.template).count();
        (n, l.len() - n)
    };
    assert_eq!(listed(&mut d), (1, 1), "{:?}", intake.counters.drops());
    let persist = |d: &mut MemDirector, on: bool| {
        d.publish_with(|s| {
            for svc in s.services.values_mut() {
                svc.persist = svc.persist.filter(|_| on);
            }
        })
    };
    persist(&mut d, false);
    d.advance(Duration::from_secs(20));
    d.poll();
    assert_eq!(listed(&mut d), (0, 1), "the connection left");
    persist(&mut d, true);
    d.advance(Duration::from_secs(400));
    d.poll();
    assert_eq!(listed(&mut d), (0, 0), "the template went by its timeout");
}

/// A standby runs no health checks, so its table holds no sorry server; a
/// connection the master made to its sorry server is installed all the same
/// (on the sorry server's id), waits while the sorry server is out of the
/// table, and is served once it is in.
#[test]
fn a_connection_to_the_sorry_server_is_installed_on_a_standby() {
    let rules = [
        "-A -t 198.18.0.110:80 -s rr --sorry-server 198.19.0.3:8080",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ];
    let mut d = standby_with(&rules, synced_v4(RS2, 8080));
    let conns = d.conns(0);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].dest, (std::net::IpAddr::V4(RS2), 8080));
    // Active, the sorry server not in the table: its packets wait (dropped).
    set(&d, false, false);
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, ACK));
    assert!(int.is_empty());
    assert_eq!(d.ctr(Ctr::DropNoDestConn), 1);
    // Its checks put it in: the connection is served by it.
    let down = std::collections::HashMap::from([(
        d.dest_id(ringvs::config::Proto::Tcp, 80, RS1, 80),
        false,
    )]);
    let (lost, run) = ringvs::health::Monitor::default().weigh(&d.cfg, &down);
    let cfg = ringvs::health::effective(&run, &down, &lost, false);
    d.publish_with(|s| *s = ringvs::nat::Snapshot::build(&cfg, ringvs::nat::Timeouts::default()));
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, ACK));
    assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let p = parse_ip(&int[0]);
    assert_eq!((p.dst, p.dport), (RS2, 8080));
}

/// A persistent port-0 service's sorry server, as its real servers, is
/// found by its address: the master's connection to it keeps the client's
/// port (443, the sorry server's is 8080), and used to be dropped as
/// `unknown_dest`.
#[test]
fn a_port_0_services_sorry_connection_is_installed_by_address() {
    let rules = [
        "-A -t 198.18.0.110:0 -s rr -p 300 --sorry-server 198.19.0.3:8080",
        "-a -t 198.18.0.110:0 -r 198.19.0.2:80 -m",
    ];
    let conn = ringvs::sync::wire::SyncConn {
        vport: 443,
        ..synced_v4(RS2, 443)
    };
    let mut d = standby_with(&rules, conn);
    let conns = d.conns(0);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].dest, (std::net::IpAddr::V4(RS2), 443));
}

// ---------------------------------------------------------------------------
// IPv6 connections (issue 15 item 6)
// ---------------------------------------------------------------------------

mod v6 {
    use super::*;
    use ringvs::Nic;
    use ringvs::config::Forward;
    use ringvs::dataplane::Env;
    use ringvs::dataplane::sync::SyncPorts;
    use ringvs::sync::daemon::Intake;
    use ringvs::sync::wire::{self, MessageBuilder, SyncConn};
    use std::net::{IpAddr, Ipv6Addr};
    use std::sync::Arc;

    fn reports6(d: &MemDirector) -> Vec<SyncEntry<Ipv6Addr>> {
        d.sync.reports6.iter().flat_map(|r| r.try_iter()).collect()
    }

    /// The dual-stack addresses, the fanout spreading clients over workers.
    fn dual_env() -> Env {
        Env {
            fanout_key: 0x5eed,
            ..env6()
        }
    }

    /// A dual-stack director of `workers` workers with `rules`, the client
    /// and both IPv6 real servers resolved.
    fn director(workers: usize, rules: &[&str]) -> MemDirector {
        let mut d = MemDirector::with_env(workers, rules, dual_env(), 1024);
        d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
        d.resolve6(Nic::Int, RS1_6, RS1_MAC);
        d.resolve6(Nic::Int, RS2_6, RS2_MAC);
        d
    }

    /// `frame` into worker `k`'s `nic`, one poll of every worker; what
    /// worker `k` sent out of (ext, int).
    fn push(d: &mut MemDirector, k: usize, nic: Nic, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        d.workers[k].rx[nic].push(frame);
        d.poll();
        let w = &mut d.workers[k];
        (w.tx[Nic::Ext].take_sent(), w.tx[Nic::Int].take_sent())
    }

    fn ports(l4: &[u8]) -> (u16, u16) {
        (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        )
    }

    /// SYN, SYN-ACK, ACK of an IPv6 client connection from `client`
    /// through worker 0; returns the real server it went to.
    fn handshake6(d: &mut MemDirector, client: Ipv6Addr) -> Ipv6Addr {
        let from = frames6::L3 {
            src: client,
            ..l3_to_vip6()
        };
        let (_, int) = d.ext(&frames6::tcp(&from, &[], CPORT, 80, SYN, &[]));
        assert_eq!(int.len(), 1, "SYN forwarded: {:?}", drops(&d.w().core.ctr));
        let rs = parse_ip6(&int[0]).dst;
        let reply = frames6::tcp(&l3_from_rs6(rs, client), &[], 80, CPORT, SYN | ACK, &[]);
        let (ext, _) = d.int(&reply);
        assert_eq!(ext.len(), 1, "SYN-ACK forwarded");
        let (_, int) = d.ext(&frames6::tcp(&from, &[], CPORT, 80, ACK, &[]));
        assert_eq!(int.len(), 1, "ACK forwarded");
        rs
    }

    /// What a master daemon sends of a worker's report (as `daemon::pack`
    /// does: masquerading, the state's IPVS number).
    fn on_the_wire(e: &SyncEntry<Ipv6Addr>) -> SyncConn<Ipv6Addr> {
        assert_eq!(e.forward, Forward::Masq);
        SyncConn {
            proto: e.proto,
            flags: wire::nat_flags(e.template, e.state),
            state: match (e.template, e.state) {
                (true, State::Established) => wire::ipvs_state::CTPL_ASSURED,
                (true, _) => wire::ipvs_state::CTPL_NONE,
                (false, s) => wire::state_to_ipvs(s),
            },
            caddr: e.client.0,
            cport: e.client.1,
            vaddr: e.vip.0,
            vport: e.vip.1,
            daddr: e.rip.0,
            dport: e.rip.1,
            fwmark: 0,
            timeout: e.timeout,
            seq: None,
            pe: None,
        }
    }

    /// The backup daemon's intake on `d`'s channels: `entries` in one message.
    fn receive(
        d: &MemDirector,
        entries: &[SyncConn<Ipv6Addr>],
    ) -> Arc<ringvs::sync::daemon::SyncCounters> {
        let env = dual_env();
        let intake = Intake {
            syncid: 7,
            shared: Arc::clone(&d.shared),
            env: Arc::new(env),
            ports: Arc::new(SyncPorts {
                reports: vec![],
                installs: d.sync.installs.clone(),
                reports6: vec![],
                installs6: d.sync.installs6.clone(),
                pe_reports: vec![],
            }),
            counters: Arc::default(),
            start: d.t0,
        };
        let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
        let mut m = MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 7).expect("buffer");
        for e in entries {
            m.push(e).expect("fits");
        }
        intake.message(m.as_bytes());
        intake.counters
    }

    /// An IPv6 TCP connection established through a master is reported
    /// (its entry's every field), goes over the wire to a standby backup of
    /// two workers, is installed by the worker owning its client
    /// (`Env::owner6`), and once the backup is made active a reply of the
    /// real server's is forwarded to the client with the VIP as source.
    #[test]
    fn an_ipv6_connection_is_reported_installed_and_served_after_takeover() {
        let mut master = director(1, STANDARD6);
        set(&master, true, false);
        let rs = handshake6(&mut master, CLIENT6);
        let r = reports6(&master);
        assert_eq!(r.len(), 1, "{r:?}");
        let e = r[0];
        assert_eq!(
            e,
            SyncEntry {
                proto: 6,
                client: (CLIENT6, CPORT),
                vip: (VIP6, 80),
                rip: (rs, 80),
                state: State::Established,
                template: false,
                timeout: 900,
                forward: Forward::Masq,
                out_seq: None,
                fwmark: 0,
            }
        );
        assert!(reports(&master).is_empty(), "nothing on the IPv4 channel");
        assert_eq!(master.ctr(Ctr::SyncReported), 1);
        // The client's FIN: CLOSE_WAIT, reported too.
        let fin = frames6::tcp(&l3_to_vip6(), &[], CPORT, 80, FIN | ACK, &[]);
        master.ext(&fin);
        let r = reports6(&master);
        assert_eq!(
            r.iter().map(|e| e.state).collect::<Vec<_>>(),
            [State::CloseWait]
        );

        let mut backup = director(2, STANDARD6);
        set(&backup, false, true);
        let counters = receive(&backup, &[on_the_wire(&e)]);
        assert_eq!(
            counters
                .conns_queued
                .load(std::sync::atomic::Ordering::Relaxed),
            1,
            "{:?}",
            counters.drops()
        );
        backup.poll();
        let owner = dual_env().owner6((CLIENT6, CPORT), 2);
        for k in 0..2 {
            let c = &backup.workers[k].core;
            assert_eq!(
                c.ctr.get(Ctr::SyncInstalled),
                u64::from(k == owner),
                "worker {k}"
            );
            assert_eq!(c.table6.len(), usize::from(k == owner), "worker {k}");
        }
        let listed = backup.conns(owner);
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].state, listed[0].client, listed[0].dest),
            (
                State::Established,
                (IpAddr::V6(CLIENT6), CPORT),
                (IpAddr::V6(rs), 80)
            )
        );

        // Standby: the real server's reply goes nowhere.
        let reply = frames6::tcp(
            &l3_from_rs6(rs, CLIENT6),
            &[],
            80,
            CPORT,
            ACK | PSH,
            b"data",
        );
        let (ext, int) = push(&mut backup, owner, Nic::Int, &reply);
        assert!(
            ext.is_empty() && int.is_empty(),
            "a standby forwards nothing"
        );

        // Active: the synced connection carries the reply, rewritten.
        set(&backup, false, false);
        let (ext, int) = push(&mut backup, owner, Nic::Int, &reply);
        assert!(int.is_empty());
        assert_eq!(ext.len(), 1, "{:?}", drops(&backup.workers[owner].core.ctr));
        let p = parse_ip6(&ext[0]);
        assert_eq!(
            (p.src, p.dst),
            (VIP6, CLIENT6),
            "source rewritten to the VIP"
        );
        assert_eq!(p.dst_mac, CLIENT_MAC);
        assert_eq!(ports(&p.l4), (80, CPORT));
        assert_eq!(&p.l4[20..], b"data");
        let c = &backup.workers[owner].core.ctr;
        assert_eq!((c.get(Ctr::FwdOut6), c.get(Ctr::FwdOut)), (1, 1));
        // And a client packet goes to the synced real server, not a newly
        // scheduled one.
        let data = frames6::tcp(&l3_to_vip6(), &[], CPORT, 80, ACK | PSH, b"more");
        let (ext, int) = push(&mut backup, owner, Nic::Ext, &data);
        assert!(ext.is_empty());
        assert_eq!(int.len(), 1);
        assert_eq!(parse_ip6(&int[0]).dst, rs);
        assert_eq!(backup.workers[owner].core.ctr.get(Ctr::ConnNew), 0);
    }

    /// An install of a dest id of `rs` for the IPv6 client connection.
    fn synced6(d: &MemDirector, rs: Ipv6Addr, state: State) -> Install<Ipv6Addr> {
        let dest = d
            .cfg
            .service(&ringvs::config::ServiceKey::new(
                ringvs::config::Proto::Tcp,
                VIP6,
                80,
            ))
            .and_then(|s| s.dest(rs, 80))
            .map(|d| d.id)
            .expect("dest configured");
        Install {
            entry: SyncEntry {
                proto: 6,
                client: (CLIENT6, CPORT),
                vip: (VIP6, 80),
                rip: (rs, 80),
                state,
                template: false,
                timeout: 900,
                forward: Forward::Masq,
                out_seq: None,
                fwmark: 0,
            },
            dest,
            server: Resolved {
                svc: (6, VIP6, 80),
                addr: rs,
                port: 80,
            },
            keep_seq: false,
        }
    }

    /// The IPv4 install rules, on the IPv6 table: a standby takes a later
    /// state, replaces a connection whose ports were reused for another
    /// real server; an active director keeps its own connection. The
    /// active/inactive gauges follow.
    #[test]
    fn ipv6_installs_update_replace_and_keep_as_ipv4_ones() {
        let mut d = director(1, STANDARD6);
        set(&d, false, true);
        let gauges = |d: &MemDirector, rs: Ipv6Addr| {
            let id = synced6(d, rs, State::None).dest;
            d.published[0].gauges.get(id)
        };
        d.sync.installs6[0]
            .send(synced6(&d, RS2_6, State::Established))
            .expect("queued");
        d.poll();
        assert_eq!(d.ctr(Ctr::SyncInstalled), 1);
        assert_eq!(gauges(&d, RS2_6), (1, 0));
        d.sync.installs6[0]
            .send(synced6(&d, RS2_6, State::FinWait))
            .expect("queued");
        d.poll();
        assert_eq!(d.ctr(Ctr::SyncUpdated), 1);
        assert_eq!(d.conns(0)[0].state, State::FinWait);
        assert_eq!(gauges(&d, RS2_6), (0, 1));
        // The ports reused for a connection to the other server.
        d.sync.installs6[0]
            .send(synced6(&d, RS1_6, State::Established))
            .expect("queued");
        d.poll();
        assert_eq!(d.ctr(Ctr::SyncInstalled), 2);
        let c = d.conns(0);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].dest, (IpAddr::V6(RS1_6), 80));
        assert_eq!((gauges(&d, RS2_6), gauges(&d, RS1_6)), ((0, 0), (1, 0)));
        // Active: its own connection wins.
        set(&d, false, false);
        d.sync.installs6[0]
            .send(synced6(&d, RS2_6, State::TimeWait))
            .expect("queued");
        d.poll();
        assert_eq!(d.ctr(Ctr::SyncKept), 1);
        assert_eq!(d.conns(0)[0].dest, (IpAddr::V6(RS1_6), 80));
    }

    /// An IPv6 UDP connection is reported when created, with UDP's timeout;
    /// on IPv6's channel only, and nothing from a standby.
    #[test]
    fn ipv6_udp_is_reported_when_created() {
        let rules = &[
            "-A -u [2001:2:0:1::110]:53 -s rr",
            "-a -u [2001:2:0:1::110]:53 -r [2001:2:0:2::2]:53 -m",
        ];
        let mut d = director(1, rules);
        set(&d, true, false);
        let q = |sport| frames6::udp(&l3_to_vip6(), &[], sport, 53, b"q", false);
        let (_, int) = d.ext(&q(5001));
        assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
        let r = reports6(&d);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(
            (r[0].proto, r[0].state, r[0].client, r[0].rip, r[0].timeout),
            (17, State::Udp, (CLIENT6, 5001), (RS1_6, 53), 300)
        );
        assert!(reports(&d).is_empty());
        set(&d, true, true);
        let (_, int) = d.ext(&q(5002));
        assert!(int.is_empty(), "a standby forwards nothing");
        assert!(reports6(&d).is_empty(), "a standby reports nothing");
    }

    /// One install budget for both families per pass, neither waiting
    /// behind the other's backlog: with more IPv4 entries queued than two
    /// passes install, a pass installs the budget in all, and the IPv6
    /// entries are in within two passes (not after the IPv4 backlog).
    #[test]
    fn both_families_share_the_install_budget() {
        use ringvs::dataplane::sync::INSTALL_BUDGET;
        let mut rules = STANDARD.to_vec();
        rules.extend_from_slice(STANDARD6);
        let mut d = MemDirector::with_env(1, &rules, dual_env(), 4096);
        set(&d, false, true);
        let v4 = synced(&d, State::Established);
        let n4 = 2 * INSTALL_BUDGET + 100;
        for i in 0..n4 {
            let mut e = v4;
            e.entry.client.1 = 10000 + i as u16;
            d.sync.installs[0].send(e).expect("queued");
        }
        let v6 = synced6(&d, RS1_6, State::Established);
        for i in 0..10u16 {
            let mut e = v6;
            e.entry.client.1 = 10000 + i;
            d.sync.installs6[0].send(e).expect("queued");
        }
        d.poll();
        let installed = d.ctr(Ctr::SyncInstalled);
        assert_eq!(installed, INSTALL_BUDGET as u64, "one budget in all");
        d.poll();
        assert_eq!(d.w().core.table6.len(), 10, "IPv6 waited one pass at most");
        assert_eq!(d.ctr(Ctr::SyncInstalled), 2 * INSTALL_BUDGET as u64);
        d.poll();
        assert_eq!(d.w().core.table.len(), n4);
        assert_eq!(d.ctr(Ctr::SyncInstalled), n4 as u64 + 10);
    }

    /// The resend sweep goes over the IPv6 table too.
    #[test]
    fn the_resend_sweep_reports_ipv6_connections_again() {
        let mut d = director(1, STANDARD6);
        d.shared.ha.set_resend_s(2);
        set(&d, true, false);
        let rs = handshake6(&mut d, CLIENT6);
        assert_eq!(reports6(&d).len(), 1);
        let mut again = vec![];
        for _ in 0..6 {
            d.advance(Duration::from_millis(500));
            d.poll();
            again.extend(reports6(&d));
        }
        // 3 s: one pass over the table (a 2 s period), maybe two.
        assert!((1..=2).contains(&again.len()), "reported again {again:?}");
        assert!(
            again
                .iter()
                .all(|e| e.client == (CLIENT6, CPORT) && e.rip == (rs, 80))
        );
        assert!(reports(&d).is_empty(), "nothing on the IPv4 channel");
    }

    /// A connection of a `-M 64` service brings its template: the client
    /// masked to its /64, port 0; the backup installs the template in the
    /// shared IPv6 templates, so that another client of that /64 goes to
    /// the same real server there.
    #[test]
    fn an_ipv6_template_is_masked_by_the_prefix_length() {
        let rules = &[
            "-A -t [2001:2:0:1::110]:80 -s rr -p 120 -M 64",
            "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:80 -m",
            "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::3]:80 -m",
        ];
        let client = Ipv6Addr::new(0x2001, 2, 0, 1, 0xaaaa, 0xbbbb, 0xcccc, 0xdddd);
        let mut master = director(1, rules);
        master.resolve6(Nic::Ext, client, CLIENT_MAC);
        set(&master, true, false);
        let rs = handshake6(&mut master, client);
        let r = reports6(&master);
        assert_eq!(r.len(), 2, "{r:?}");
        let t = r.iter().find(|e| e.template).expect("template reported");
        let net = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0);
        // Assured by the established connection: `IP_VS_CTPL_S_ASSURED`.
        assert_eq!(
            (t.client, t.vip, t.rip, t.timeout, t.state),
            ((net, 0), (VIP6, 80), (rs, 80), 120, State::Established)
        );
        let c = r.iter().find(|e| !e.template).expect("connection reported");
        assert_eq!(c.client, (client, CPORT));

        // The backup: the template steers the /64's next client to `rs`
        // whatever rr would pick.
        let mut backup = director(1, rules);
        set(&backup, false, true);
        let counters = receive(&backup, &[on_the_wire(t)]);
        assert_eq!(
            counters
                .templates_installed
                .load(std::sync::atomic::Ordering::Relaxed),
            1,
            "{:?}",
            counters.drops()
        );
        set(&backup, false, false);
        // Received assured, it is listed so on the backup.
        let mut got = vec![];
        let now = backup.now_s();
        backup.shared.templates6.list(now, &mut got, 10);
        assert!(got.len() == 1 && got[0].assured, "{got:?}");
        for n in 0..2u16 {
            let other = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x20 + n);
            backup.resolve6(Nic::Ext, other, CLIENT_MAC);
            let from = frames6::L3 {
                src: other,
                ..l3_to_vip6()
            };
            let (_, int) = backup.ext(&frames6::tcp(&from, &[], CPORT, 80, SYN, &[]));
            assert_eq!(int.len(), 1, "{:?}", drops(&backup.w().core.ctr));
            assert_eq!(parse_ip6(&int[0]).dst, rs, "client {other}");
        }
    }
}

/// A connection reports only the template its client still has: after the
/// client moved to another server (its first server was down, then came
/// back), a report of its old connection does not bring the old template
/// back on the standby, which after a takeover would send the client's next
/// connection to the old server (IPVS syncs the connection's own control
/// template, `ip_vs_sync_conn`).
#[test]
fn an_old_connections_report_does_not_roll_the_standbys_template_back() {
    let rules = &[
        "-A -t 198.18.0.110:80 -s rr -p 600",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    ];
    let mut a = MemDirector::new(rules);
    a.resolve_all();
    set(&a, true, false);
    let mut b = MemDirector::new(rules);
    b.resolve_all();
    set(&b, true, true);
    let intake = b.intake(7, &env());
    let relay = |a: &MemDirector, b: &mut MemDirector| {
        for m in a.synced(7).0 {
            intake.message(&m);
        }
        b.poll();
    };
    // X: CLIENT:40000 -> RS1 under template T1.
    let rs_x = handshake(&mut a);
    relay(&a, &mut b);
    // RS1 fails its check (out of the table), the client opens Y: a new
    // template T2 to the other server.
    let down = std::collections::HashMap::from([(
        a.dest_id(ringvs::config::Proto::Tcp, 80, rs_x, 80),
        false,
    )]);
    let held = ringvs::health::effective(&a.cfg, &down, &std::collections::HashSet::new(), false);
    a.publish_with(|s| *s = ringvs::nat::Snapshot::build(&held, ringvs::nat::Timeouts::default()));
    let (_, int) = a.ext(&tcp_frame(&L3::to_vip(), 40001, 80, SYN));
    let rs_y = parse_ip(&int[0]).dst;
    assert_ne!(rs_y, rs_x);
    a.int(&tcp_frame(&L3::from_rs(rs_y, CLIENT), 80, 40001, SYN | ACK));
    a.ext(&tcp_frame(&L3::to_vip(), 40001, 80, ACK));
    relay(&a, &mut b);
    let tpl = |b: &mut MemDirector| {
        let t: Vec<_> = b.conns(0).into_iter().filter(|c| c.template).collect();
        assert_eq!(t.len(), 1, "{t:?}");
        t[0].dest.0
    };
    assert_eq!(tpl(&mut b), std::net::IpAddr::V4(rs_y), "T2 synced");
    // RS1 passes its check again; X sends its FIN (CLOSE_WAIT, reported).
    let full = a.cfg.clone();
    a.publish_with(|s| *s = ringvs::nat::Snapshot::build(&full, ringvs::nat::Timeouts::default()));
    a.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, FIN | ACK));
    relay(&a, &mut b);
    assert_eq!(
        tpl(&mut b),
        std::net::IpAddr::V4(rs_y),
        "the standby still has T2"
    );
    // The master's own template: a new connection goes to Y's server.
    let (_, int) = a.ext(&tcp_frame(&L3::to_vip(), 40002, 80, SYN));
    assert_eq!(parse_ip(&int[0]).dst, rs_y, "the master keeps T2");
    // Takeover: B sends the client's new connection to X's server.
    set(&b, true, false);
    let (_, int) = b.ext(&tcp_frame(&L3::to_vip(), 40003, 80, SYN));
    assert_eq!(parse_ip(&int[0]).dst, rs_y, "the new master follows T2");
}

/// After a takeover, the new master's resend sweep reports each synced
/// connection with its persistence template, as the old master's reports
/// of it did, so a director that (re)starts as its backup learns the
/// client's server too. A connection is counted on the template the backup
/// holds for it when its worker installs it, or, installed before the
/// template came, when an update of it comes (a deliberate difference:
/// IPVS's backup leaves a synced connection without its control template,
/// `ip_vs_proc_conn`, and its new master resends none).
#[test]
fn a_taken_over_connection_is_resent_with_its_template() {
    use ringvs::sync::wire::{AnyConn, MessageBuilder};
    let rules = &[
        "-A -t 198.18.0.110:80 -s rr -p 600 -M 255.255.255.0",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    ];
    let director = |standby: bool| {
        let mut d = MemDirector::new(rules);
        d.resolve_all();
        set(&d, true, standby);
        d
    };
    let (mut a, mut b, mut c) = (director(false), director(true), director(true));
    let to_b = b.intake(7, &env());
    let is_template = |e: &AnyConn| matches!(e, AnyConn::V4(c) if c.is_template());
    // X (CLIENT:40000): B gets the connection alone first, then with its
    // template (the update path links it).
    let rs = handshake(&mut a);
    let (_, entries) = a.synced(7);
    let mut buf = vec![0u8; ringvs::sync::wire::DEFAULT_MAXLEN];
    let mut m =
        MessageBuilder::new(&mut buf, ringvs::sync::wire::DEFAULT_MAXLEN, 7).expect("buffer");
    for e in entries.iter().filter(|e| !is_template(e)) {
        m.push_any(e).expect("fits");
    }
    to_b.message(m.as_bytes());
    b.poll();
    a.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, FIN | ACK));
    // Y (CLIENT:40001), the same template: B installs it with its template
    // there (the install path links it).
    let (_, int) = a.ext(&tcp_frame(&L3::to_vip(), 40001, 80, SYN));
    assert_eq!(parse_ip(&int[0]).dst, rs, "the client's template");
    a.int(&tcp_frame(&L3::from_rs(rs, CLIENT), 80, 40001, SYN | ACK));
    a.ext(&tcp_frame(&L3::to_vip(), 40001, 80, ACK));
    for m in a.synced(7).0 {
        to_b.message(&m);
    }
    b.poll();
    assert_eq!(b.ctr(Ctr::SyncInstalled), 2, "X and Y");
    // Takeover: B's sweep resends both connections, each with the template.
    b.shared.ha.set_resend_s(2);
    set(&b, true, false);
    let mut resent = Vec::new();
    for _ in 0..6 {
        b.advance(Duration::from_millis(500));
        b.poll();
        resent.push(b.synced(7));
    }
    let entries: Vec<AnyConn> = resent.iter().flat_map(|(_, e)| e.clone()).collect();
    let ports: std::collections::BTreeSet<u16> = entries
        .iter()
        .filter_map(|e| match e {
            AnyConn::V4(c) if !c.is_template() => Some(c.cport),
            _ => None,
        })
        .collect();
    assert_eq!(ports, [CPORT, 40001].into(), "{entries:?}");
    let templates: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            AnyConn::V4(c) if c.is_template() => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(
        templates.len(),
        entries.len() - templates.len(),
        "a template with every connection: {entries:?}"
    );
    for t in &templates {
        assert_eq!(
            (t.caddr, t.cport, t.daddr, t.dport),
            (
                std::net::Ipv4Addr::from(be(CLIENT) & 0xffff_ff00),
                0,
                rs,
                80
            )
        );
        assert_eq!(
            t.state,
            ringvs::sync::wire::ipvs_state::CTPL_ASSURED,
            "assured"
        );
    }
    // C, A restarted as B's backup, learns the template.
    let to_c = c.intake(7, &env());
    for (datagrams, _) in &resent {
        for m in datagrams {
            to_c.message(m);
        }
    }
    c.poll();
    let held: Vec<_> = c.conns(0).into_iter().filter(|c| c.template).collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        held[0].dest.0,
        std::net::IpAddr::V4(rs),
        "the resent template"
    );
}

/// IPVS sync protocol version 0, as a kernel master with
/// `net.ipv4.vs.sync_version=0` sends it (`ip_vs_sync_conn_v0`), taken by a
/// backup's intake the way `ip_vs_process_message_v0` takes it: the
/// messages here are laid out byte by byte from the kernel's structs.
mod version_0 {
    use super::*;
    use ringvs::nat::ftp::FtpPorts;
    use ringvs::sync::daemon::Intake;
    use ringvs::sync::wire::{self, MessageBuilder, SyncConn, flags};
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::{IpAddr, Ipv4Addr};

    const RULES: &[&str] = &[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-A -u 198.18.0.110:53 -s rr",
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
        "-A -t 198.18.0.110:443 -s rr -p 120",
        "-a -t 198.18.0.110:443 -r 198.19.0.3:443 -m",
        "-a -t 198.18.0.110:443 -r 198.19.0.2:443 -m",
    ];

    const ESTABLISHED: u16 = 1;
    const INACTIVE: u16 = 0x0100;
    const OUT_SEQ: u16 = 0x0200;
    const TEMPLATE: u16 = 0x1000;

    type Ep = (Ipv4Addr, u16);

    /// `struct ip_vs_sync_conn_v0`, 24 bytes: reserved, protocol, cport,
    /// vport, dport, caddr, vaddr, daddr, flags, state; big-endian.
    fn entry(
        proto: u8,
        (caddr, cport): Ep,
        (vaddr, vport): Ep,
        (daddr, dport): Ep,
        fl: u16,
        state: u16,
    ) -> Vec<u8> {
        let mut e = vec![0, proto];
        e.extend_from_slice(&cport.to_be_bytes());
        e.extend_from_slice(&vport.to_be_bytes());
        e.extend_from_slice(&dport.to_be_bytes());
        e.extend_from_slice(&caddr.octets());
        e.extend_from_slice(&vaddr.octets());
        e.extend_from_slice(&daddr.octets());
        e.extend_from_slice(&fl.to_be_bytes());
        e.extend_from_slice(&state.to_be_bytes());
        assert_eq!(e.len(), 24);
        e
    }

    /// `struct ip_vs_sync_conn_options` as a little-endian kernel master
    /// copies it after the entry (`memcpy` of its `in_seq` and `out_seq`:
    /// init_seq, delta, previous_delta, in host order).
    fn seq_options(in_seq: [u32; 3], out_seq: [u32; 3]) -> Vec<u8> {
        in_seq
            .iter()
            .chain(&out_seq)
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }

    /// `struct ip_vs_sync_mesg_v0` (nr_conns, syncid, size: the whole
    /// datagram, big-endian) and `body`.
    fn message(nr_conns: u8, syncid: u8, body: &[&[u8]]) -> Vec<u8> {
        let len = 4 + body.iter().map(|b| b.len()).sum::<usize>();
        let mut m = vec![nr_conns, syncid];
        m.extend_from_slice(&(len as u16).to_be_bytes());
        for b in body {
            m.extend_from_slice(b);
        }
        m
    }

    /// A standby director of one worker with `rules`, and its backup
    /// daemon's intake for syncid 7.
    fn standby(rules: &[&str], env: &ringvs::dataplane::Env) -> (MemDirector, Intake) {
        let mut d = MemDirector::with_env(1, rules, env.clone(), 1024);
        d.resolve_all();
        set(&d, false, true);
        let intake = d.intake(7, env);
        (d, intake)
    }

    /// What moved in the intake's counters from `before` (by name, as
    /// `ringvs stats` shows them without `sync_`).
    fn moved(i: &Intake, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        i.counters
            .all()
            .into_iter()
            .map(|(k, v)| (v - before.get(&k).copied().unwrap_or(0), k))
            .filter(|(n, _)| *n > 0)
            .map(|(n, k)| (k, n))
            .collect()
    }

    /// An established TCP connection, a UDP one, a persistence template and
    /// a connection under it: what a version-0 message of them installs is
    /// what the version-1 message of the same content (no timeout, no mark)
    /// installs, counted alike.
    #[test]
    fn v0_message_installs_what_version_1_would() {
        let e_tcp = entry(6, (CLIENT, 40000), (VIP, 80), (RS2, 80), 0, ESTABLISHED);
        let e_udp = entry(17, (CLIENT, 5000), (VIP, 53), (RS1, 53), INACTIVE, 0);
        let e_tpl = entry(
            6,
            (CLIENT, 0),
            (VIP, 443),
            (RS2, 443),
            TEMPLATE | INACTIVE,
            0,
        );
        let e_443 = entry(6, (CLIENT, 40001), (VIP, 443), (RS2, 443), 0, ESTABLISHED);
        let v0 = message(4, 7, &[&e_tcp, &e_udp, &e_tpl, &e_443]);
        assert_eq!(&v0[..4], &[4, 7, 0, 100], "nr_conns 4, syncid 7, size 100");

        let conn = |proto, c: Ep, v: Ep, r: Ep, f, state| SyncConn {
            proto,
            flags: f,
            state,
            caddr: c.0,
            cport: c.1,
            vaddr: v.0,
            vport: v.1,
            daddr: r.0,
            dport: r.1,
            fwmark: 0,
            timeout: 0,
            seq: None,
            pe: None,
        };
        let (inactive, template) = (flags::INACTIVE, flags::TEMPLATE | flags::INACTIVE);
        let same = [
            conn(6, (CLIENT, 40000), (VIP, 80), (RS2, 80), 0, 1),
            conn(17, (CLIENT, 5000), (VIP, 53), (RS1, 53), inactive, 0),
            conn(6, (CLIENT, 0), (VIP, 443), (RS2, 443), template, 0),
            conn(6, (CLIENT, 40001), (VIP, 443), (RS2, 443), 0, 1),
        ];
        let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
        let mut m = MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 7).expect("buffer");
        for c in &same {
            m.push(c).expect("fits");
        }
        let v1 = m.as_bytes().to_vec();

        let env = env();
        let (mut a, in_a) = standby(RULES, &env);
        let (mut b, in_b) = standby(RULES, &env);
        in_a.message_at(&v0, a.now_s());
        in_b.message_at(&v1, b.now_s());
        a.poll();
        b.poll();

        let got = moved(&in_a, &BTreeMap::new());
        let mut want: BTreeMap<String, u64> = [
            ("bytes_received", 100),
            ("msgs_received", 1),
            ("msgs_received_v0", 1),
            ("conns_received", 4),
            ("conns_queued", 3),
            ("templates_installed", 1),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .into();
        assert_eq!(got, want, "no drop");
        want.remove("msgs_received_v0");
        want.insert("bytes_received".into(), v1.len() as u64);
        assert_eq!(moved(&in_b, &BTreeMap::new()), want, "as version 1's");

        assert_eq!(a.ctr(Ctr::SyncInstalled), 3);
        let conns = a.conns(0);
        assert_eq!(conns, b.conns(0), "the same connections and template");
        let mut seen: Vec<_> = conns
            .iter()
            .map(|c| (c.proto, c.client.1, c.vip.1, c.dest, c.template))
            .collect();
        seen.sort_by_key(|s| (s.1, s.2));
        let rs = |a: Ipv4Addr, p| (IpAddr::V4(a), p);
        assert_eq!(
            seen,
            [
                (6, 0, 443, rs(RS2, 443), true),
                (17, 5000, 53, rs(RS1, 53), false),
                (6, 40000, 80, rs(RS2, 80), false),
                (6, 40001, 443, rs(RS2, 443), false),
            ]
        );
        let state = |port| conns.iter().find(|c| c.client.1 == port).map(|c| c.state);
        assert_eq!(state(40000), Some(State::Established));
        assert_eq!(state(5000), Some(State::Udp));
        // Active, the template steers the client's next connection to RS2
        // (round robin alone would pick RS1 first).
        set(&a, false, false);
        let (_, int) = a.ext(&tcp_frame(&L3::to_vip(), 40100, 443, SYN));
        assert_eq!(int.len(), 1);
        assert_eq!(parse_ip(&int[0]).dst, RS2, "the synced template");
    }

    /// Malformed version-0 messages are drops counted under version 1's
    /// reasons, never a panic, and install what the kernel's backup would
    /// have installed before the fault; another syncid is dropped as in
    /// version 1, unless the backup's syncid is 0.
    #[test]
    fn v0_faults_are_counted_as_version_1s() {
        let env = env();
        let (mut d, intake) = standby(RULES, &env);
        let good = |cport| entry(6, (CLIENT, cport), (VIP, 80), (RS2, 80), 0, ESTABLISHED);
        let with_state =
            |proto, state| entry(proto, (CLIENT, 4000), (VIP, 80), (RS2, 80), 0, state);
        let seq_flags = entry(
            6,
            (CLIENT, 4000),
            (VIP, 80),
            (RS2, 80),
            OUT_SEQ,
            ESTABLISHED,
        );
        let sized = |mut m: Vec<u8>, size: u16| {
            m[2..4].copy_from_slice(&size.to_be_bytes());
            m
        };
        let cases: [(&str, Vec<u8>, &str, u64); 10] = [
            // (what, the datagram, its drop, connections queued)
            ("header cut", vec![1, 7, 0], "short", 0),
            (
                "size + 1",
                sized(message(1, 7, &[&good(4000)]), 29),
                "size",
                0,
            ),
            (
                "size - 1",
                sized(message(1, 7, &[&good(4000)]), 27),
                "size",
                0,
            ),
            ("another syncid", message(1, 8, &[&good(4000)]), "syncid", 0),
            (
                "nr_conns 2, one entry",
                message(2, 7, &[&good(4001)]),
                "truncated",
                1,
            ),
            (
                "an entry cut",
                message(1, 7, &[&good(4000)[..20]]),
                "truncated",
                0,
            ),
            (
                "options cut",
                message(2, 7, &[&good(4002), &seq_flags, &[0; 23]]),
                "overrun",
                1,
            ),
            (
                "protocol 50",
                message(3, 7, &[&good(4003), &with_state(50, 1), &good(4004)]),
                "protocol",
                2,
            ),
            (
                "TCP state 11",
                message(1, 7, &[&with_state(6, 11)]),
                "state",
                0,
            ),
            (
                "trailing bytes",
                message(1, 7, &[&good(4005), &[0; 8]]),
                "trailing",
                1,
            ),
        ];
        for (what, m, why, queued) in cases {
            let before = intake.counters.all();
            intake.message_at(&m, d.now_s());
            let got = moved(&intake, &before);
            let drops: Vec<_> = got.iter().filter(|(k, _)| k.starts_with("drop_")).collect();
            assert_eq!(drops, [(&format!("drop_{why}"), &1)], "{what}: {got:?}");
            let taken = u64::from(!matches!(why, "short" | "size" | "syncid"));
            let n = |k: &str| got.get(k).copied().unwrap_or(0);
            assert_eq!(
                (n("msgs_received"), n("msgs_received_v0")),
                (taken, taken),
                "{what}"
            );
            assert_eq!(n("conns_queued"), queued, "{what}: {got:?}");
        }
        // A backup with syncid 0 takes every syncid.
        let any = d.intake(0, &env);
        any.message_at(&message(1, 200, &[&good(4006)]), d.now_s());
        assert_eq!(moved(&any, &BTreeMap::new())["conns_queued"], 1);
        d.poll();
        let ports: BTreeSet<u16> = d.conns(0).iter().map(|c| c.client.1).collect();
        assert_eq!(ports, BTreeSet::from([4001, 4002, 4003, 4004, 4005, 4006]));
    }

    /// An FTP control connection's shift travels in the sequence option,
    /// little-endian as a kernel master copies it: a standby takes it and,
    /// once active, shifts the server's stream by it and maps the client's
    /// acknowledgements back.
    #[test]
    fn v0_sequence_option_shifts_the_stream_after_a_takeover() {
        let rules = [
            "-A -t 198.18.0.110:21 -s rr",
            "-a -t 198.18.0.110:21 -r 198.19.0.2:21 -m",
        ];
        let env = ringvs::dataplane::Env {
            ftp: FtpPorts::new(&[21]).expect("ports"),
            ..env()
        };
        let (mut d, intake) = standby(&rules, &env);
        // The server's stream was rewritten at S and grew by 7 bytes there.
        let mut e = entry(
            6,
            (CLIENT, CPORT),
            (VIP, 21),
            (RS1, 21),
            OUT_SEQ,
            ESTABLISHED,
        );
        e.extend(seq_options([0; 3], [S, 7, 0]));
        assert_eq!(e.len(), 48, "FULL_CONN_SIZE");
        assert_eq!(&e[36..40], &[0x88, 0x13, 0, 0], "out_seq.init_seq 5000, LE");
        intake.message_at(&message(1, 7, &[&e]), d.now_s());
        d.poll();
        assert_eq!(d.ctr(Ctr::SyncInstalled), 1);
        assert_eq!(d.ctr(Ctr::FtpSynced), 1, "the shift taken");

        set(&d, false, false);
        assert_eq!(done_leaves_at(&mut d), S + 107, "shifted by delta");
        let f = tcp_seg(&L3::to_vip(), CPORT, 21, ACK, 1000, S + 118, b"");
        let (_, int) = d.ext(&f);
        assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
        assert_eq!(
            parse_ip(&int[0]).ack,
            S + 111,
            "acknowledgement mapped back"
        );
    }

    /// The control connection's server stream starts at `S` in these tests.
    const S: u32 = 5000;

    /// The control connection's `226 Done.` from RS1 at `S + 100`, as it
    /// leaves the director: its sequence number.
    fn done_leaves_at(d: &mut MemDirector) -> u32 {
        let f = tcp_seg(
            &L3::from_rs(RS1, CLIENT),
            21,
            CPORT,
            ACK | PSH,
            S + 100,
            1000,
            b"226 Done.\r\n",
        );
        let (ext, _) = d.int(&f);
        assert_eq!(ext.len(), 1, "{:?}", drops(&d.w().core.ctr));
        parse_ip(&ext[0]).seq
    }

    /// A version-1 entry may carry `IP_VS_CONN_F_OUT_SEQ` without the
    /// sequence option (a version-0 one always has it with the flag): the
    /// kernel's backup then keeps the connection's `in_seq`/`out_seq`, as
    /// `ip_vs_proc_conn` copies them only `if (opt)`, and the flag says
    /// they are in use. So a known control connection keeps its shift; an
    /// entry without the flag clears it (the flags replace the connection's
    /// `IP_VS_CONN_F_BACKUP_UPD_MASK` bits).
    #[test]
    fn out_seq_flag_without_the_option_keeps_the_shift() {
        let rules = [
            "-A -t 198.18.0.110:21 -s rr",
            "-a -t 198.18.0.110:21 -r 198.19.0.2:21 -m",
        ];
        let env = ringvs::dataplane::Env {
            ftp: FtpPorts::new(&[21]).expect("ports"),
            ..env()
        };
        let conn = |fl, seq| SyncConn {
            proto: 6,
            flags: fl,
            state: ESTABLISHED,
            caddr: CLIENT,
            cport: CPORT,
            vaddr: VIP,
            vport: 21,
            daddr: RS1,
            dport: 21,
            fwmark: 0,
            timeout: 900,
            seq,
            pe: None,
        };
        let shift = wire::SeqOpt {
            in_seq: wire::Seq::default(),
            out_seq: wire::Seq {
                init_seq: S,
                delta: 7,
                previous_delta: 0,
            },
        };
        let v1 = |c: &SyncConn| {
            let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
            let mut m = MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 7).expect("buffer");
            m.push(c).expect("fits");
            m.as_bytes().to_vec()
        };
        // The server's reply seen by the director once active: its sequence
        // number as it leaves.
        let reply_seq = |then: &SyncConn| {
            let (mut d, intake) = standby(&rules, &env);
            intake.message_at(&v1(&conn(flags::OUT_SEQ, Some(shift))), d.now_s());
            d.poll();
            assert_eq!(d.ctr(Ctr::FtpSynced), 1, "the shift taken");
            intake.message_at(&v1(then), d.now_s());
            d.poll();
            assert_eq!(d.ctr(Ctr::SyncUpdated), 1, "{:?}", drops(&d.w().core.ctr));
            set(&d, false, false);
            done_leaves_at(&mut d)
        };
        let flag_alone = conn(flags::OUT_SEQ, None);
        assert_eq!(reply_seq(&flag_alone), S + 107, "the shift kept");
        assert_eq!(reply_seq(&conn(0, None)), S + 100, "no flag: no shift");
    }
}
