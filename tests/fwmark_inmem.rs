//! Firewall-mark services (`ipvsadm -A -f MARK`, with ringvs's
//! `--mark-dest` rules in place of netfilter's MARK) through the workers, in
//! memory: which packets a mark takes, before any `-t` service, as
//! `ip_vs_service_find` (`ip_vs_ctl.c`) looks for the mark first; the real
//! server's port as `ip_vs_schedule` and `ip_vs_sched_persist`
//! (`ip_vs_core.c`) choose it; one persistence template per client for every
//! port and protocol the mark is on, listed and keyed as IPVS's
//! (`IPPROTO_IP`, the mark as the address).

mod inmem;

use inmem::frames6;
use inmem::*;
use ringvs::Nic;
use ringvs::config::format::format_save;
use ringvs::config::names::Names;
use ringvs::stats::Ctr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// The client's SYN from `sport` to `dst:dport`, as it left the internal
/// NIC (`None`: nothing did).
fn syn_to(
    d: &mut MemDirector,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
) -> Option<Parsed> {
    let l3 = L3 {
        dst,
        ..L3::from_client(src)
    };
    let (ext, int) = d.ext(&tcp_frame(&l3, sport, dport, SYN));
    assert!(ext.is_empty());
    int.first().map(|f| parse_ip(f))
}

fn lab(rules: &[&str]) -> MemDirector {
    let mut d = MemDirector::new(rules);
    d.resolve_all();
    d
}

#[test]
fn a_persistent_mark_keeps_a_client_on_one_server_across_its_ports() {
    // The LVS recipe: HTTP and HTTPS of one VIP under one mark, persistent,
    // so a client's HTTPS goes where its HTTP went. A `-t VIP:80` service
    // exists too: the mark is looked for first.
    let mut d = lab(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:8080 -m",
        "-A -f 1 -s rr -p 300 --mark-dest tcp:198.18.0.110:80,443",
        "-a -f 1 -r 198.19.0.2 -m",
        "-a -f 1 -r 198.19.0.3 -m",
    ]);
    let first = syn_to(&mut d, CLIENT, 5000, VIP, 80).expect("forwarded");
    let https = syn_to(&mut d, CLIENT, 5001, VIP, 443).expect("forwarded");
    assert_eq!(first.dst, https.dst, "one template for both ports");
    // A persistent mark's connection keeps the client's port (the
    // service's port is 0: `ip_vs_sched_persist` uses the server's only
    // for packets to it).
    assert_eq!((first.dport, https.dport), (80, 443));
    let other = syn_to(&mut d, CLIENT2, 6000, VIP, 443).expect("forwarded");
    assert_ne!(other.dst, first.dst, "rr gives the next client the other");
    // Port 8080 carries no mark and has no service.
    assert!(syn_to(&mut d, CLIENT, 5002, VIP, 8080).is_none());
    assert_eq!(d.ctr(Ctr::DropNoService), 1);
    // The reply of the HTTPS connection leaves as VIP:443.
    let (ext, int) = d.int(&tcp_frame(
        &L3::from_rs(https.dst, CLIENT),
        443,
        5001,
        SYN | ACK,
    ));
    assert!(int.is_empty());
    let back = parse_ip(&ext[0]);
    assert_eq!(
        (back.src, back.sport, back.dst, back.dport),
        (VIP, 443, CLIENT, 5001)
    );
    // The templates: IPVS's `IP` entries, the mark as the address.
    let conns = d.conns(0);
    let mut templates: Vec<_> = conns
        .iter()
        .filter(|c| c.template)
        .map(|c| (c.proto, c.client, c.vip, c.dest.0))
        .collect();
    templates.sort();
    let mark = (IpAddr::V4(Ipv4Addr::new(0, 0, 0, 1)), 0);
    let mut want = vec![
        (0, (IpAddr::V4(CLIENT), 0), mark, IpAddr::V4(first.dst)),
        (0, (IpAddr::V4(CLIENT2), 0), mark, IpAddr::V4(other.dst)),
    ];
    want.sort();
    assert_eq!(templates, want);
    assert_eq!(conns.iter().filter(|c| !c.template).count(), 3);
}

#[test]
fn a_plain_mark_schedules_each_connection_and_uses_the_servers_port() {
    // Without -p: every connection on its own (rr), to the server's port
    // where it has one, else to the client's (`ip_vs_schedule`).
    let mut d = lab(&[
        "-A -f 7 -s rr --mark-dest tcp:198.18.0.0/24:80 --mark-dest udp:198.18.0.110:53",
        "-a -f 7 -r 198.19.0.3 -m",
        "-a -f 7 -r 198.19.0.2:8080 -m",
    ]);
    let a = syn_to(&mut d, CLIENT, 5000, VIP, 80).expect("forwarded");
    let b = syn_to(&mut d, CLIENT, 5001, VIP, 80).expect("forwarded");
    assert_eq!((a.dst, a.dport), (RS1, 8080));
    assert_eq!((b.dst, b.dport), (RS2, 80));
    // Any address of the prefix is the mark's: the router upstream routes
    // it to the director.
    let other = Ipv4Addr::new(198, 18, 0, 200);
    let c = syn_to(&mut d, CLIENT, 5002, other, 80).expect("forwarded");
    assert_eq!((c.dst, c.dport), (RS1, 8080));
    // The reply goes back from the address the client asked.
    let (ext, _) = d.int(&tcp_frame(&L3::from_rs(RS1, CLIENT), 8080, 5002, SYN | ACK));
    let back = parse_ip(&ext[0]);
    assert_eq!((back.src, back.sport), (other, 80));
    // UDP to the single address.
    let (_, int) = d.ext(&udp_frame(&L3::to_vip(), 7000, 53, b"q", true));
    let q = parse_ip(&int[0]);
    assert_eq!((q.dst, q.dport), (RS2, 53));
    // TCP to 53 and UDP to 80 are not marked.
    assert!(syn_to(&mut d, CLIENT, 5003, VIP, 53).is_none());
    let (ext, int) = d.ext(&udp_frame(&L3::to_vip(), 7001, 80, b"q", true));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(d.ctr(Ctr::DropNoService), 2);
}

#[test]
fn a_rule_address_is_a_vip_and_a_prefix_is_not_announced() {
    let mut d = lab(&[
        "-A -f 1 -s rr --mark-dest tcp:198.18.0.110:80 --mark-dest tcp:198.18.1.0/24",
        "-a -f 1 -r 198.19.0.2 -m",
    ]);
    let ask = |d: &mut MemDirector, who: Ipv4Addr| {
        let req = arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], who, BCAST);
        d.ext(&req).0.len()
    };
    assert_eq!(ask(&mut d, VIP), 1, "the rule's address is answered");
    assert_eq!(
        ask(&mut d, Ipv4Addr::new(198, 18, 1, 5)),
        0,
        "a prefix is routed"
    );
    assert_eq!(ask(&mut d, NOT_OURS), 0);
}

/// The errors the director makes about a packet to an address of an IPv4
/// `--mark-dest` prefix come from that address, as from a VIP: the kernel
/// receives the prefix on a local route (`RTCF_LOCAL`), so `icmp_send`
/// answers from the packet's destination. Port unreachable for a mark with
/// no real server (`ip_vs_leave`), time exceeded for TTL 1. An IPv6
/// prefix's come from the external address: `icmp6_send` answers from the
/// destination only if the host holds it (`ipv6_chk_addr`), which an
/// address of a local route it does not.
#[test]
fn errors_about_a_mark_prefix_come_from_the_address_asked() {
    let mut d = MemDirector::dual_stack(&[
        "-A -f 1 -s rr --mark-dest tcp:198.18.1.0/24",
        "-A -f 3 -6 -s rr --mark-dest tcp:[2001:2:0:5::]/64:80",
    ]);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve_all();
    let asked = Ipv4Addr::new(198, 18, 1, 5);
    for ttl in [64, 1] {
        let mut l3 = L3 {
            dst: asked,
            ..L3::from_client(CLIENT)
        };
        l3.ttl = ttl;
        let (ext, int) = d.ext(&tcp_frame(&l3, 5000, 80, SYN));
        assert!(int.is_empty() && ext.len() == 1, "ttl {ttl}");
        let e = parse_ip(&ext[0]);
        assert_eq!((e.src, e.dst, e.proto), (asked, CLIENT, 1), "ttl {ttl}");
        let want = if ttl == 1 { [11, 0] } else { [3, 3] };
        assert_eq!(e.l4[..2], want, "ttl {ttl}");
    }
    assert_eq!(d.ctr(Ctr::IcmpPortUnreach), 1);
    assert_eq!(d.ctr(Ctr::IcmpTimeExceeded), 1);
    let asked6 = Ipv6Addr::new(0x2001, 2, 0, 5, 0, 0, 0, 9);
    let l = frames6::L3 {
        dst: asked6,
        ..l3_to_vip6()
    };
    let (ext, int) = d.ext(&frames6::tcp(&l, &[], 5001, 80, SYN, &[]));
    assert!(int.is_empty() && ext.len() == 1);
    let e = parse_ip6(&ext[0]);
    assert_eq!((e.src, e.dst), (EXT_ADDR6, CLIENT6));
    assert_eq!(e.l4[..2], [1, 4], "port unreachable");
    assert_eq!(d.ctr(Ctr::IcmpPortUnreach), 2);
}

#[test]
fn an_ipv6_mark_takes_its_prefix() {
    let mut d = MemDirector::dual_stack(&[
        "-A -f 3 -6 -s rr --mark-dest tcp:[2001:2:0:1::]/64:80",
        "-a -f 3 -6 -r 2001:2:0:2::2 -m",
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    ]);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve_all();
    let syn = frames6::tcp(&l3_to_vip6(), &[], 5000, 80, SYN, &[]);
    let (ext, int) = d.ext(&syn);
    assert!(ext.is_empty());
    let p = parse_ip6(&int[0]);
    let dport = u16::from_be_bytes([p.l4[2], p.l4[3]]);
    assert_eq!((p.dst, dport), (RS1_6, 80));
    // The IPv4 service is untouched by an IPv6 mark.
    assert_eq!(
        syn_to(&mut d, CLIENT, 5000, VIP, 80)
            .expect("forwarded")
            .dst,
        RS2
    );
    let to_other = frames6::L3 {
        dst: Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x99),
        ..l3_to_vip6()
    };
    let (_, int) = d.ext(&frames6::tcp(&to_other, &[], 5001, 80, SYN, &[]));
    assert_eq!(parse_ip6(&int[0]).dst, RS1_6);
    let (_, int) = d.ext(&frames6::tcp(&to_other, &[], 5002, 81, SYN, &[]));
    assert!(int.is_empty(), "port 81 is not marked");
}

/// `lblc` on an IPv6 mark: the cache is keyed by the whole destination
/// address, as the kernel compares it (`ip_vs_lblc.c` `ip_vs_lblc_get`:
/// `ip_vs_addr_equal`; the 32-bit fold of `ip_vs_lblc_hashkey` only picks
/// a bucket). 2001:2:0:1::10 and 2001:2:0:1:0:10:: fold alike (the XOR of
/// their words is 0x2001_0013); ringvs used to key by the fold, so the
/// second found the first's entry and went to its server.
#[test]
fn lblc_on_an_ipv6_mark_keys_by_the_whole_address() {
    let mut d = MemDirector::dual_stack(&[
        "-A -f 3 -6 -s lblc --mark-dest tcp:[2001:2:0:1::]/64:80",
        "-a -f 3 -6 -r 2001:2:0:2::2 -m",
        "-a -f 3 -6 -r 2001:2:0:2::3 -m",
    ]);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(Nic::Int, RS2_6, RS2_MAC);
    let (a, b) = (
        Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x10),
        Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0x10, 0, 0),
    );
    let fold = |x: Ipv6Addr| {
        let w = x.to_bits();
        [96, 64, 32, 0]
            .iter()
            .fold(0u32, |f, s| f ^ (w >> s) as u32)
    };
    assert_eq!((fold(a), fold(b)), (0x2001_0013, 0x2001_0013));
    let mut syn = |dst: Ipv6Addr, sport: u16| {
        let l3 = frames6::L3 {
            dst,
            ..l3_to_vip6()
        };
        let (ext, int) = d.ext(&frames6::tcp(&l3, &[], sport, 80, SYN, &[]));
        assert!(ext.is_empty());
        parse_ip6(&int[0]).dst
    };
    // Both idle: wlc's tie goes to the newest (the kernel's first), which
    // is now busier (one connection) than the other, not overloaded.
    assert_eq!(syn(a, 5000), RS2_6);
    // Another destination, of the same fold, has no entry: wlc's pick.
    assert_eq!(syn(b, 5001), RS1_6);
    // Each keeps its own server (one connection each: wlc's tie would
    // give both the newest).
    assert_eq!(syn(b, 5002), RS1_6);
    assert_eq!(syn(a, 5003), RS2_6);
}

#[test]
fn fwmark_services_parse_list_save_and_restore() {
    let rules = [
        "-A -t 198.18.0.110:80 -s rr",
        "-A -f 7 -6 -s wlc --mark-dest udp:[2001:2::]/64:53",
        "-a -f 7 -6 -r [2001:2:0:2::2]:53 -m",
        "-A -f 1 -s rr -p 300 --mark-dest tcp:198.18.0.110:80,443 --mark-dest udp:198.18.0.110",
        "-a -f 1 -r 198.19.0.2 -m",
        "-a -f 1 -r 198.19.0.3:0 -g",
    ];
    let cfg = config(&rules);
    let saved = format_save(&cfg, true, &Names::none());
    assert_eq!(
        saved,
        "-A -t 198.18.0.110:80 -s rr\n\
         -A -f 1 -s rr -p 300 --mark-dest tcp:198.18.0.110:80,443 --mark-dest udp:198.18.0.110\n\
         -a -f 1 -r 198.19.0.2:0 -m -w 1\n\
         -a -f 1 -r 198.19.0.3:0 -g -w 1\n\
         -A -f 7 -6 -s wlc --mark-dest udp:[2001:2::]/64:53\n\
         -a -f 7 -6 -r [2001:2:0:2::2]:53 -m -w 1\n"
    );
    let lines: Vec<&str> = saved.lines().collect();
    let restored = config(&lines);
    assert_eq!(format_save(&restored, true, &Names::none()), saved);
    assert_eq!(restored.services().len(), 3);
    let listed = ringvs::config::format::format_list_numeric(&cfg, None, &|_| (0, 0));
    assert!(
        listed.contains("\nFWM  1 rr persistent 300\n  -> 198.19.0.2:0"),
        "{listed}"
    );
    assert!(listed.contains("\nFWM  7 IPv6 wlc\n"), "{listed}");
}

#[test]
fn fwmark_command_errors() {
    let err = |line: &str| {
        let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        let mut cfg = config(&["-A -f 1 -s rr --mark-dest tcp:198.18.0.110:80"]);
        ringvs::config::ipvsadm::parse(&argv)
            .and_then(|c| ringvs::config::ipvsadm::apply(&mut cfg, &c))
            .expect_err(line)
            .to_string()
    };
    assert_eq!(err("-A -f 0 -s rr"), "invalid fwmark value `0' specified");
    assert_eq!(
        err("-A -f 2 -s rr -o"),
        "ringvs does not support one-packet scheduling (-o) of a firewall-mark service"
    );
    assert_eq!(err("-A -t 198.18.0.110:80 -6"), "-6 used before -f\n");
    assert_eq!(
        err("-A -t 198.18.0.111:80 -s rr --mark-dest tcp:198.18.0.111:80"),
        "--mark-dest is for a firewall-mark service (-f)"
    );
    assert_eq!(
        err("-A -f 2 -s rr --mark-dest tcp:198.18.0.0/24"),
        "--mark-dest tcp:198.18.0.0/24 overlaps tcp:198.18.0.110:80 of FWM 1: a packet has one mark"
    );
    assert_eq!(
        err("-A -f 2 -6 -s rr --mark-dest tcp:198.18.0.9"),
        "--mark-dest tcp:198.18.0.9 is not IPv6, as FWM 2 IPv6 is (-6 makes an IPv6 one)"
    );
    assert_eq!(
        err("-a -f 1 -r 198.19.0.2 --mark-dest tcp:198.18.0.9"),
        "--mark-dest goes with -A or -E"
    );
    assert!(err("-A -f 2 -s rr --mark-dest tcp:198.18.0.9:0").starts_with("illegal --mark-dest"));
    // A mark's check has no service port to fall back on.
    assert_eq!(
        err("-A -f 2 -s rr --check tcp"),
        "a port-0 service's check needs --check-port (the port to check)"
    );
    // -E without --mark-dest keeps the rules; with it, replaces them.
    let mut cfg = config(&["-A -f 1 -s rr --mark-dest tcp:198.18.0.110:80"]);
    let edit = |cfg: &mut ringvs::config::Config, line: &str| {
        let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        let c = ringvs::config::ipvsadm::parse(&argv).expect("parsed");
        ringvs::config::ipvsadm::apply(cfg, &c).expect("applied");
    };
    let marks = |cfg: &ringvs::config::Config| cfg.services()[0].marks.len();
    edit(&mut cfg, "-E -f 1 -s wlc");
    assert_eq!(marks(&cfg), 1);
    edit(
        &mut cfg,
        "-E -f 1 -s wlc --mark-dest tcp:198.18.0.1:1 --mark-dest tcp:198.18.0.1:2",
    );
    assert_eq!(marks(&cfg), 2);
}

#[test]
fn a_marks_templates_sync_as_ipvs_and_a_backup_keeps_its_clients() {
    use ringvs::sync::wire::{self, AnyConn};
    use std::sync::atomic::Ordering::Relaxed;
    let rules = [
        "-A -f 9 -s rr -p 300 --mark-dest tcp:198.18.0.110:80,443",
        "-a -f 9 -r 198.19.0.2 -m",
        "-a -f 9 -r 198.19.0.3 -m",
    ];
    let mut master = lab(&rules);
    master.shared.ha.set_master(true);
    master.shared.bump();
    // Two clients: rr sends them to the two servers. A TCP connection is
    // reported once established, with its template.
    let mut handshake = |client: Ipv4Addr| {
        let rs = syn_to(&mut master, client, 5000, VIP, 443)
            .expect("forwarded")
            .dst;
        let from_rs = L3::from_rs(rs, client);
        let (ext, _) = master.int(&tcp_frame(&from_rs, 443, 5000, SYN | ACK));
        assert_eq!(ext.len(), 1);
        let ack = L3 {
            dst: VIP,
            ..L3::from_client(client)
        };
        assert_eq!(master.ext(&tcp_frame(&ack, 5000, 443, ACK)).1.len(), 1);
        rs
    };
    let (a, b) = (handshake(CLIENT), handshake(CLIENT2));
    assert_ne!(a, b);
    let (datagrams, entries) = master.synced(3);
    let templates: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            AnyConn::V4(c) if c.is_template() => Some((c.proto, c.vaddr, c.vport, c.fwmark)),
            _ => None,
        })
        .collect();
    // IPVS's: `IPPROTO_IP`, the mark as the address, port 0, the mark.
    assert_eq!(templates, [(0, Ipv4Addr::new(0, 0, 0, 9), 0, 9); 2]);
    // The connections carry the mark too (`cp->fwmark`), so that a kernel
    // backup finds their service (`ip_vs_proc_conn`).
    let conns: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            AnyConn::V4(c) if !c.is_template() => Some((c.proto, c.vaddr, c.vport, c.fwmark)),
            _ => None,
        })
        .collect();
    assert_eq!(conns, [(6, VIP, 443, 9); 2]);

    // A standby with the same rules takes them; once active, the second
    // client's new connection (to the other port) goes where the master
    // sent it, though rr would start with the first server.
    let mut backup = lab(&rules);
    backup.shared.ha.set_standby(true);
    backup.shared.bump();
    let intake = backup.intake(3, &env());
    for d in &datagrams {
        intake.message(d);
    }
    assert_eq!(
        intake.counters.templates_installed.load(Relaxed),
        2,
        "{:?}",
        intake.counters.drops()
    );
    backup.shared.ha.set_standby(false);
    backup.shared.bump();
    backup.poll();
    let again = syn_to(&mut backup, CLIENT2, 5001, VIP, 80).expect("forwarded");
    assert_eq!((again.dst, again.dport), (b, 80));

    // A kernel master's entry names its service by the mark alone (its
    // iptables rules may mark what ringvs's rules do not cover): the mark
    // finds the service, as `ip_vs_proc_conn`'s lookup does.
    let kernels = wire::SyncConn {
        proto: 6,
        flags: wire::nat_flags(false, ringvs::nat::State::Established),
        state: wire::state_to_ipvs(ringvs::nat::State::Established),
        caddr: CLIENT,
        cport: 7000,
        vaddr: Ipv4Addr::new(198, 18, 0, 111),
        vport: 8443,
        daddr: RS2,
        dport: 8443,
        fwmark: 9,
        timeout: 900,
        seq: None,
        pe: None,
    };
    let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
    let mut m = wire::MessageBuilder::new(&mut buf, wire::DEFAULT_MAXLEN, 3).expect("buffer");
    m.push(&kernels).expect("fits");
    let queued = intake.counters.conns_queued.load(Relaxed);
    intake.message(m.as_bytes());
    assert_eq!(
        intake.counters.conns_queued.load(Relaxed),
        queued + 1,
        "{:?}",
        intake.counters.drops()
    );
}

/// A fragmented datagram to an address of a mark's prefix is reassembled
/// and forwarded, as the same datagram whole is.
#[test]
fn fragments_to_a_mark_prefix_are_forwarded() {
    let mut d = lab(&[
        "-A -f 1 -s rr --mark-dest udp:198.18.0.0/24:53",
        "-a -f 1 -r 198.19.0.2 -m",
    ]);
    let l3 = L3 {
        dst: Ipv4Addr::new(198, 18, 0, 200),
        ..L3::from_client(CLIENT)
    };
    let (_, int) = d.ext(&udp_frame(&l3, 7000, 53, b"q", true));
    assert_eq!(int.len(), 1, "unfragmented: forwarded");
    let req = udp_frame(&l3, 7001, 53, &vec![7u8; 3000], true);
    let mut n = 0;
    for f in cut(&req, 1480) {
        n += d.ext(&f).1.len();
    }
    assert_eq!(
        n,
        3,
        "fragmented: forwarded? drop_no_service={}",
        d.ctr(Ctr::DropNoService)
    );
}

/// A connection leaving releases the template of the service it was
/// scheduled by (its real server's, as IPVS's `cp->dest->svc`), not of the
/// one its address and port would find now: a mark added over a persistent
/// `-t` service's port leaves the `-t` template to expire.
#[test]
fn a_template_expires_after_a_mark_takes_its_port() {
    let t = [
        "-A -t 198.18.0.110:80 -s rr -p 60",
        "-a -t 198.18.0.110:80 -r 198.19.0.2 -m",
    ];
    for add_mark in [false, true] {
        let mut d = lab(&t);
        let l3 = L3::from_client(CLIENT);
        let (_, int) = d.ext(&tcp_frame(&l3, 5000, 80, SYN));
        assert_eq!(int.len(), 1);
        assert_eq!(d.shared.templates.len(d.now_s()), 1);
        if add_mark {
            let mut r = t.to_vec();
            r.extend([
                "-A -f 1 -s rr -p 60 --mark-dest tcp:198.18.0.110:80",
                "-a -f 1 -r 198.19.0.3 -m",
            ]);
            d.reconfigure(&r);
        }
        for _ in 0..40 {
            d.advance(Duration::from_secs(30));
            d.poll();
        }
        assert_eq!(
            d.shared.templates.len(d.now_s()),
            0,
            "mark added: {add_mark}: the -t template outlives its connection"
        );
    }
}

/// The same when a mark's own rules stop taking the connection's port.
#[test]
fn a_mark_template_expires_after_its_rules_change() {
    let rules = |dest: &'static str| {
        [
            "-A -f 1 -s rr -p 60 --mark-dest ".to_string() + dest,
            "-a -f 1 -r 198.19.0.2 -m".to_string(),
        ]
    };
    for edit in [false, true] {
        let r = rules("tcp:198.18.0.110:80,443");
        let mut d = lab(&[&r[0], &r[1]]);
        let (_, int) = d.ext(&tcp_frame(&L3::from_client(CLIENT), 5000, 80, SYN));
        assert_eq!(int.len(), 1);
        if edit {
            let r = rules("tcp:198.18.0.110:443");
            d.reconfigure(&[&r[0], &r[1]]);
        }
        for _ in 0..40 {
            d.advance(Duration::from_secs(30));
            d.poll();
        }
        assert_eq!(d.shared.templates.len(d.now_s()), 0, "edited: {edit}");
    }
}

/// A server held down by its check (keepalived's default: out of the
/// table the workers run, `health::effective`) keeps its service for its
/// connections, as IPVS's dest in the trash keeps `svc`: a mark added over
/// its port meanwhile does not take its connection's template release.
#[test]
fn a_template_expires_when_its_server_is_held_down_and_a_mark_takes_its_port() {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;
    let t = [
        "-A -t 198.18.0.110:80 -s rr -p 60",
        "-a -t 198.18.0.110:80 -r 198.19.0.2 -m",
    ];
    let mut d = lab(&t);
    let (_, int) = d.ext(&tcp_frame(&L3::from_client(CLIENT), 5000, 80, SYN));
    assert_eq!(int.len(), 1);
    assert_eq!(d.shared.templates.len(d.now_s()), 1);
    let mut r = t.to_vec();
    r.extend([
        "-A -f 1 -s rr -p 60 --mark-dest tcp:198.18.0.110:80",
        "-a -f 1 -r 198.19.0.3 -m",
    ]);
    let cfg = config(&r);
    let id = d.dest_id(ringvs::config::Proto::Tcp, 80, RS1, 80);
    assert_eq!(cfg.service(&cfg.services()[0].key).unwrap().dests[0].id, id);
    let down: HashMap<_, _> = [(id, false)].into();
    let run = ringvs::health::effective(&cfg, &down, &HashSet::new(), false);
    // As the control thread publishes it: after the snapshot it replaces.
    let prev = d.shared.config.load_full();
    d.shared
        .config
        .store(Arc::new(ringvs::nat::Snapshot::build_from(
            &run,
            ringvs::nat::Timeouts::default(),
            Some(&prev),
        )));
    d.shared.bump();
    for _ in 0..40 {
        d.advance(Duration::from_secs(30));
        d.poll();
    }
    assert_eq!(
        d.shared.templates.len(d.now_s()),
        0,
        "the -t template outlives its connection"
    );
}

/// A persistent mark (or port-0) service whose servers were added with a
/// port keeps the client's port (443 here, the server's is 80), and so does
/// the connection its sync entry names: a backup with the same rules finds
/// the server by its address (where the kernel's `ip_vs_find_dest` leaves
/// it unbound: docs/ha.md) and, after a takeover, forwards the connection's
/// next packet to port 443. It used to drop the entry as `unknown_dest`.
#[test]
fn a_persistent_marks_connection_to_another_port_syncs_to_the_backup() {
    use std::sync::atomic::Ordering::Relaxed;
    let mark = [
        "-A -f 9 -s rr -p 300 --mark-dest tcp:198.18.0.110:80,443",
        "-a -f 9 -r 198.19.0.3:80 -m",
        "-a -f 9 -r 198.19.0.2:80 -m",
    ];
    let port0 = [
        "-A -t 198.18.0.110:0 -s rr -p 300",
        "-a -t 198.18.0.110:0 -r 198.19.0.3:80 -m",
        "-a -t 198.18.0.110:0 -r 198.19.0.2:80 -m",
    ];
    for rules in [mark, port0] {
        let mut master = MemDirector::new(&rules);
        master.resolve_all();
        master.shared.ha.set_master(true);
        master.shared.bump();
        let l3 = L3::to_vip();
        let (_, int) = master.ext(&tcp_frame(&l3, 5000, 443, SYN));
        let p = parse_ip(&int[0]);
        assert_eq!((p.dst, p.dport), (RS1, 443), "{rules:?}");
        let synack = tcp_frame(&L3::from_rs(RS1, CLIENT), 443, 5000, SYN | ACK);
        assert_eq!(master.int(&synack).0.len(), 1);
        assert_eq!(master.ext(&tcp_frame(&l3, 5000, 443, ACK)).1.len(), 1);
        let (datagrams, _) = master.synced(3);

        let mut backup = MemDirector::new(&rules);
        backup.resolve_all();
        backup.shared.ha.set_standby(true);
        backup.shared.bump();
        let intake = backup.intake(3, &env());
        for d in &datagrams {
            intake.message(d);
        }
        let c = &intake.counters;
        assert_eq!(c.templates_installed.load(Relaxed), 1, "{rules:?}");
        assert_eq!(c.conns_queued.load(Relaxed), 1, "{:?}", c.drops());
        backup.shared.ha.set_standby(false);
        backup.shared.bump();
        backup.poll();
        let (_, int) = backup.ext(&tcp_frame(&l3, 5000, 443, ACK));
        assert_eq!(int.len(), 1, "the established connection's ACK");
        let p = parse_ip(&int[0]);
        assert_eq!((p.dst, p.dport), (RS1, 443), "{rules:?}");
    }
}
