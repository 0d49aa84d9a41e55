//! The sync daemons on a real link over an IPv6 group (`--mcast-group
//! ff02::51`), as the kernel syncs over one (`mcast_af`, `ip_vs_sync.c`): a
//! veth `sync0` joins the director's namespace to the client's, with IPv6
//! on and a 2001:2::/48 address at both ends, no IPv4 address and no
//! link-local one. In the client's namespace a Python peer stands for the
//! other director:
//!
//! * **backup**: the peer sends a message (built with `wire::MessageBuilder`)
//!   to `[ff02::51%s0]:8848`; the director's backup receives it over IPv6
//!   and installs its connection, which `-L -c` lists;
//! * **master**: the peer joins the group on `s0` and prints what arrives; a
//!   connection through the director reaches it in a message from the
//!   director's sync address, with hop limit `--mcast-ttl`, and its own
//!   backup, on the same group, hears none of it (loopback off).
//!
//! And on a service NIC, without the kernel's IPv6, a daemon over an IPv6
//! group is refused.
//!
//! Over the same link, with no IPv4 address in the director's namespace,
//! both daemons sync over the IPv4 group `224.0.0.81` as IPVS's do
//! (`make_send_sock`, `make_receive_sock`): the backup joins by the
//! interface's index and installs the peer's message; the master, with no
//! address to bind, binds `0.0.0.0` (IPVS logs and does the same) and its
//! messages reach the peer from `0.0.0.0`.
//!
//! And with `ringvs run --sync-ports 2` (IPVS's `sync_ports`), over the IPv4
//! group: the backup installs what the peer sends to port 8849, and the
//! master's connections reach peers on both 8848 and 8849.
//!
//! Needs root, `ip netns` and `python3`; under `CI=true` a missing one fails
//! the test.

mod nslab;

use nslab::{NsDirector, Scenario, adm, stats};
use ringvs::lab;
use ringvs::nat::State;
use ringvs::sync::wire::{self, AnyConn, MessageBuilder, SyncConn};
use std::path::Path;
use std::time::Duration;

/// The group, port, syncid and TTL (hop limit; the kernel's default for a
/// multicast socket is 1) of both daemons.
const GROUP: &str = "ff02::51";
const PORT: u16 = 8848;
const SYNCID: u8 = 9;
const TTL: &str = "2";
/// The director's end of the sync link and the peer's.
const DIRECTOR_SYNC: (&str, &str) = ("sync0", "2001:2:0:3::1");
const PEER_SYNC: (&str, &str) = ("s0", "2001:2:0:3::2");
/// The forged connection's client port.
const CPORT: u16 = 40123;

/// The sync link: a veth from the director's namespace to the client's, IPv6
/// on (quietly: no DAD, no router solicitation) with a 2001:2::/48 address
/// at both ends and no link-local address (`addr_gen_mode` 1), no IPv4.
fn sync_link(lab: &mut lab::Lab) {
    let (dir, cli) = (lab.ns_director(), lab.ns_client());
    let (d_if, d_addr) = DIRECTOR_SYNC;
    let (p_if, p_addr) = PEER_SYNC;
    #[rustfmt::skip]
    lab::ip(&["-n", &dir, "link", "add", d_if, "type", "veth", "peer", "name", p_if, "netns", &cli])
        .expect("the sync veth");
    for (ns, ifname, addr) in [(&dir, d_if, d_addr), (&cli, p_if, p_addr)] {
        let no_ll = format!("net.ipv6.conf.{ifname}.addr_gen_mode=1");
        lab::ns_run(ns, "sysctl", &["-qw", &no_ll]).expect("no link-local address");
        lab::add_addr6(ns, ifname, &format!("{addr}/64")).expect("an IPv6 address");
        lab::ip(&["-n", ns, "link", "set", ifname, "up"]).expect("link up");
    }
}

/// The peer's side, in Python: `send HEX` sends one datagram to the group
/// out of `s0` (hop limit 1); `listen` joins the group on `s0`, says
/// `ready`, then prints `HEX SOURCE HOPLIMIT` for each datagram.
const PEER: &str = r#"
import socket, struct, sys
ifname, group, port = "s0", sys.argv[2], int(sys.argv[3])
idx = socket.if_nametoindex(ifname)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
if sys.argv[1] == "send":
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
    s.sendto(bytes.fromhex(sys.argv[4]), (group, port, 0, idx))
else:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((group, port, 0, idx))
    mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", idx)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    print("ready", flush=True)
    while True:
        data, anc, _, src = s.recvmsg(65535, socket.CMSG_SPACE(4))
        hops = [struct.unpack("@i", d)[0] for (l, t, d) in anc if t == socket.IPV6_HOPLIMIT]
        print(data.hex(), src[0].split("%")[0], hops[0] if hops else -1, flush=True)
"#;

fn counter(control: &Path, name: &str) -> u64 {
    let s = stats(control);
    s.pointer(&format!("/sync/counters/{name}"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// A masqueraded ESTABLISHED connection of the seed's service to rs1, from
/// client port `cport`.
fn forged(cport: u16) -> Vec<u8> {
    let c = SyncConn {
        proto: 6,
        flags: wire::nat_flags(false, State::Established),
        state: wire::state_to_ipvs(State::Established),
        caddr: lab::CLIENT,
        cport,
        vaddr: lab::VIP,
        vport: 80,
        daddr: lab::rs_addr(1),
        dport: 80,
        fwmark: 0,
        timeout: 900,
        seq: None,
        pe: None,
    };
    let mut buf = vec![0u8; wire::DEFAULT_MAXLEN];
    let mut m = MessageBuilder::new(&mut buf, 1452, SYNCID).expect("buffer");
    m.push(&c).expect("fits");
    m.as_bytes().to_vec()
}

/// A line of a peer's `listen`: the datagram, its source and hop limit (TTL).
fn datagram(l: &str) -> Option<(Vec<u8>, String, String)> {
    let w: Vec<&str> = l.split_whitespace().collect();
    let [data, src, hops] = w[..] else {
        return None;
    };
    let bytes = (0..data.len() / 2)
        .map(|i| u8::from_str_radix(data.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    Some((bytes, src.to_string(), hops.to_string()))
}

/// Whether a sync message carries the client's connection to the VIP.
fn carries_ours(bytes: &[u8]) -> bool {
    wire::parse(bytes, SYNCID).is_ok_and(|mut entries| {
        entries.any(|e| {
            matches!(e, Ok(AnyConn::V4(c))
                if c.caddr == lab::CLIENT && c.vaddr == lab::VIP && c.vport == 80)
        })
    })
}

/// A peer: `script` (`PEER` or `PEER4`) run in namespace `ns` on `group`
/// and `port`.
type Peer<'a> = (&'a str, &'a str, &'a str, &'a str);

/// The peer sends the director's backup a connection from client port
/// `cport`; the backup installs it (`-L -c` lists it).
fn the_backup_installs_what_the_peer_sends(
    control: &Path,
    (ns, script, group, port): Peer,
    cport: u16,
) {
    let hex: String = forged(cport).iter().map(|b| format!("{b:02x}")).collect();
    lab::ns_run(ns, "python3", &["-c", script, "send", group, port, &hex]).expect("send");
    let listed = format!("{}:{cport}", lab::CLIENT);
    let installed = nslab::wait_for(Duration::from_secs(5), || {
        adm(control, &["-L", "-c", "-n"]).contains(&listed)
    });
    assert!(
        installed.is_some(),
        "the synced connection is listed: {}\n{:?}",
        adm(control, &["-L", "-c", "-n"]),
        stats(control).pointer("/sync")
    );
    assert_eq!(counter(control, "msgs_received"), 1);
}

/// The peer listening, ready: the lines it prints.
fn a_listening_peer(
    lab: &mut lab::Lab,
    (ns, script, group, port): Peer,
) -> nslab::StampedLines<()> {
    let cmd = lab::ns_command(
        ns,
        Path::new("python3"),
        &["-u", "-c", script, "listen", group, port],
    );
    let heard = nslab::spawn_collecting(lab, cmd, |_| ());
    let ready = nslab::wait_for(Duration::from_secs(5), || {
        heard
            .lock()
            .expect("lines")
            .iter()
            .any(|(_, l)| l == "ready")
    });
    assert!(ready.is_some(), "the peer listens");
    heard
}

/// After a request through the VIP, the master's messages reach the peer
/// that `heard` them: one carries the client's connection to the VIP, and
/// every one comes from `src` with TTL (hop limit) `--mcast-ttl`.
fn the_peer_hears_the_master(lab: &lab::Lab, heard: &nslab::StampedLines<()>, src: &str) {
    let bodies = nslab::http_bodies(lab, &format!("{}:80", lab::VIP), 1);
    assert!(
        bodies.iter().all(|b| b.starts_with("i am rs")),
        "{bodies:?}"
    );
    let got = nslab::wait_for(Duration::from_secs(5), || {
        let heard = heard.lock().expect("lines");
        heard
            .iter()
            .filter_map(|(_, l)| datagram(l))
            .any(|(bytes, _, _)| carries_ours(&bytes))
    });
    let heard = heard.lock().expect("lines").clone();
    assert!(
        got.is_some(),
        "the master's message reached the peer: {heard:?}"
    );
    for (_, l) in heard.iter().filter(|(_, l)| l != "ready") {
        let (_, from, ttl) = datagram(l).expect("a datagram line");
        assert_eq!((from.as_str(), ttl.as_str()), (src, TTL), "{l}");
    }
}

#[test]
fn both_daemons_sync_over_an_ipv6_group_without_an_ipv4_address() {
    let Some(NsDirector { mut lab, control }) = Scenario::new("sync6")
        .needs(&["python3"])
        .seed_service()
        .before_director(sync_link)
        .start()
    else {
        return;
    };
    let cli = lab.ns_client();
    let (d_if, d_addr) = DIRECTOR_SYNC;
    let syncid = SYNCID.to_string();
    let start = |role: &str| {
        #[rustfmt::skip]
        adm(&control, &[
            "--start-daemon", role, "--mcast-interface", d_if,
            "--mcast-group", GROUP, "--syncid", &syncid, "--mcast-ttl", TTL,
        ]);
    };

    // A service NIC has not the kernel's IPv6: a daemon on it is refused.
    #[rustfmt::skip]
    let r = nslab::call(&control, &[
        "--start-daemon", "backup", "--mcast-interface", "ext0", "--mcast-group", GROUP,
    ]);
    assert_eq!(r.code, 255, "{r:?}");
    assert!(r.err.contains("sync interface ext0 has IPv6 off"), "{r:?}");
    assert_eq!(adm(&control, &["-L", "--daemon"]), "");

    // The backup, over IPv6: it takes the peer's message and installs it.
    start("backup");
    let port = PORT.to_string();
    let peer = (cli.as_str(), PEER, GROUP, port.as_str());
    the_backup_installs_what_the_peer_sends(&control, peer, CPORT);
    assert_eq!(counter(&control, "conns_queued"), 1);

    // The master, over IPv6: the peer hears the director's connections.
    let heard = a_listening_peer(&mut lab, peer);
    start("master");
    let lines = adm(&control, &["-L", "--daemon"]);
    assert_eq!(
        lines,
        format!(
            "master sync daemon (mcast={d_if}, syncid={SYNCID}, maxlen=1452, group={GROUP}, port={PORT}, ttl={TTL})\n\
             backup sync daemon (mcast={d_if}, syncid={SYNCID}, maxlen=1452, group={GROUP}, port={PORT}, ttl={TTL})\n"
        )
    );
    // What the peer heard: messages from the director's sync address, hop
    // limit `--mcast-ttl`, one of them carrying the client's connection to the VIP.
    the_peer_hears_the_master(&lab, &heard, d_addr);
    assert!(counter(&control, "msgs_sent") >= 1);
    // Loopback off: the director's own backup heard nothing from its master.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(counter(&control, "msgs_received"), 1);
}

/// [`PEER`] over IPv4: out of `s0` by its index (`ip_mreqn`), TTL 1; the
/// listener joins the group on `s0` by index and prints `HEX SOURCE TTL`.
const PEER4: &str = r#"
import socket, struct, sys
ifname, group, port = "s0", sys.argv[2], int(sys.argv[3])
idx = socket.if_nametoindex(ifname)
mreqn = lambda g: g + bytes(4) + struct.pack("@i", idx)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if sys.argv[1] == "send":
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn(bytes(4)))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.sendto(bytes.fromhex(sys.argv[4]), (group, port))
else:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    s.bind((group, port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn(socket.inet_aton(group)))
    s.setsockopt(socket.IPPROTO_IP, 12, 1)  # IP_RECVTTL
    print("ready", flush=True)
    while True:
        data, anc, _, src = s.recvmsg(65535, socket.CMSG_SPACE(4))
        ttl = [struct.unpack("@i", d)[0] for (l, t, d) in anc if t == 2]  # IP_TTL
        print(data.hex(), src[0], ttl[0] if ttl else -1, flush=True)
"#;

/// [`sync_link`] for the IPv4 group: the peer's messages come from the
/// client's address, which the director has no route back to, so no
/// reverse-path filter.
fn ipv4_sync_link(lab: &mut lab::Lab) {
    sync_link(lab);
    let dir = lab.ns_director();
    for key in ["all", DIRECTOR_SYNC.0] {
        let rp = format!("net.ipv4.conf.{key}.rp_filter=0");
        lab::ns_run(&dir, "sysctl", &["-qw", &rp]).expect("rp_filter off");
    }
}

/// The IPv4 group on a link without an IPv4 address (none in the director's
/// namespace at all), as IPVS runs it: both daemons start, the backup
/// installs what the peer sends, the master's messages leave from `0.0.0.0`.
#[test]
fn both_daemons_sync_over_an_ipv4_group_without_an_ipv4_address() {
    let Some(NsDirector { mut lab, control }) = Scenario::new("sync4")
        .needs(&["python3"])
        .seed_service()
        .before_director(ipv4_sync_link)
        .start()
    else {
        return;
    };
    let cli = lab.ns_client();
    let d_if = DIRECTOR_SYNC.0;
    let (group, port, syncid) = ("224.0.0.81", PORT.to_string(), SYNCID.to_string());
    let start = |role: &str| {
        #[rustfmt::skip]
        adm(&control, &[
            "--start-daemon", role, "--mcast-interface", d_if, "--syncid", &syncid,
            "--mcast-ttl", TTL,
        ]);
    };

    // The backup: joined by index, it takes the peer's message.
    start("backup");
    let peer = (cli.as_str(), PEER4, group, port.as_str());
    the_backup_installs_what_the_peer_sends(&control, peer, CPORT + 1);

    // The master: no address to bind, so `0.0.0.0`; the peer hears it.
    let heard = a_listening_peer(&mut lab, peer);
    start("master");
    assert_eq!(
        adm(&control, &["-L", "--daemon"]),
        format!(
            "master sync daemon (mcast={d_if}, syncid={SYNCID}, maxlen=1472, group={group}, port={PORT}, ttl={TTL})\n\
             backup sync daemon (mcast={d_if}, syncid={SYNCID}, maxlen=1472, group={group}, port={PORT}, ttl={TTL})\n"
        )
    );
    the_peer_hears_the_master(&lab, &heard, "0.0.0.0");
    // Loopback off: the director's own backup heard nothing from its master.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(counter(&control, "msgs_received"), 1);
}

/// `ringvs run --sync-ports 2` (IPVS's `sync_ports`) on a real link over the
/// IPv4 group: the backup installs what a peer sends to the group's port + 1,
/// as a kernel master's second thread sends there (`get_mcast_sockaddr`);
/// the master sends its connections to both ports, each by a hash of the
/// connection (16 connections: all on one port 2 times in 65536).
#[test]
fn two_sync_ports_receive_and_send_on_both() {
    let Some(NsDirector { mut lab, control }) = Scenario::new("syncp2")
        .needs(&["python3"])
        .director_args(&["--sync-ports", "2"])
        .seed_service()
        .before_director(ipv4_sync_link)
        .start()
    else {
        return;
    };
    let cli = lab.ns_client();
    let d_if = DIRECTOR_SYNC.0;
    let (group, syncid) = ("224.0.0.81", SYNCID.to_string());
    let start = |role: &str| {
        #[rustfmt::skip]
        adm(&control, &[
            "--start-daemon", role, "--mcast-interface", d_if, "--syncid", &syncid,
        ]);
    };
    let ports = [PORT.to_string(), (PORT + 1).to_string()];

    start("backup");
    let second = (cli.as_str(), PEER4, group, ports[1].as_str());
    the_backup_installs_what_the_peer_sends(&control, second, CPORT + 2);

    let heard: Vec<_> = ports
        .iter()
        .map(|p| a_listening_peer(&mut lab, (cli.as_str(), PEER4, group, p.as_str())))
        .collect();
    start("master");
    let bodies = nslab::http_bodies(&lab, &format!("{}:80", lab::VIP), 16);
    assert_eq!(bodies.len(), 16, "{bodies:?}");
    let ours = |h: &nslab::StampedLines<()>| {
        let h = h.lock().expect("lines");
        h.iter()
            .filter_map(|(_, l)| datagram(l))
            .filter(|(bytes, _, _)| carries_ours(bytes))
            .count()
    };
    let both = nslab::wait_for(Duration::from_secs(5), || heard.iter().all(|h| ours(h) > 0));
    let counts: Vec<usize> = heard.iter().map(ours).collect();
    assert!(
        both.is_some(),
        "messages with our connections by port: {counts:?}"
    );
}
