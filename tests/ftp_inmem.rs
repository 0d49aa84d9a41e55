//! The FTP helper (`ringvs run --ftp-ports 21`, IPVS's `ip_vs_ftp`) through
//! a worker, in memory: a passive reply rewritten to the VIP and the
//! client's data connection let in; an active data connection let out from
//! VIP:20; the server's stream shifted after a reply changed length; and
//! what the helper refuses.

mod inmem;

use inmem::*;
use pnet::packet::tcp::{self as ptcp, MutableTcpPacket};
use ringvs::dataplane::Env;
use ringvs::nat::ftp::FtpPorts;
use ringvs::stats::Ctr;

const RULES: &[&str] = &[
    "-A -t 198.18.0.110:21 -s rr",
    "-a -t 198.18.0.110:21 -r 198.19.0.2:21 -m",
];

/// The client's control connection's port.
const CPORT: u16 = 40000;
/// Where the client's and the server's streams start (after the SYNs).
const C0: u32 = 101;
const S0: u32 = 5001;

const PASV_227: &[u8] = b"227 Entering Passive Mode (198,19,0,2,117,48).\r\n";
const VIP_227: &[u8] = b"227 Entering Passive Mode (198,18,0,110,117,48).\r\n";

fn lab(ports: &[u16]) -> MemDirector {
    let mut d = MemDirector::with_env(1, RULES, ftp_env(ports), 1024);
    d.resolve_all();
    d
}

/// The workers' environment with the helper on `ports`.
fn ftp_env(ports: &[u16]) -> Env {
    Env {
        ftp: FtpPorts::new(ports).expect("ports"),
        ..env()
    }
}

/// A client segment on the control connection, as the real server got it.
fn client(d: &mut MemDirector, flags: u8, seq: u32, ack: u32, data: &[u8]) -> Parsed {
    let f = tcp_seg(&L3::to_vip(), CPORT, 21, flags, seq, ack, data);
    let (ext, int) = d.ext(&f);
    assert!(ext.is_empty());
    assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
    parse_ip(&int[0])
}

/// A server segment on the control connection, as the client got it.
fn server(d: &mut MemDirector, flags: u8, seq: u32, ack: u32, data: &[u8]) -> Parsed {
    let f = tcp_seg(&L3::from_rs(RS1, CLIENT), 21, CPORT, flags, seq, ack, data);
    let (ext, int) = d.int(&f);
    assert!(int.is_empty());
    assert_eq!(ext.len(), 1, "{:?}", drops(&d.w().core.ctr));
    parse_ip(&ext[0])
}

/// The control connection, established.
fn control(d: &mut MemDirector) {
    client(d, SYN, C0 - 1, 0, b"");
    server(d, SYN | ACK, S0 - 1, C0, b"");
    client(d, ACK, C0, S0, b"");
}

/// `PASV` and the server's `reply`: what the client got.
fn pasv(d: &mut MemDirector, reply: &[u8]) -> Parsed {
    control(d);
    let got = client(d, ACK | PSH, C0, S0, b"PASV\r\n");
    assert_eq!(got.payload, b"PASV\r\n", "a command goes on as it is");
    server(d, ACK | PSH, S0, C0 + 6, reply)
}

/// A SYN from the client's `port` to VIP:`vport`, as the real server got
/// it (`None`: nothing came out).
fn data_syn(d: &mut MemDirector, port: u16, vport: u16) -> Option<Parsed> {
    let (ext, int) = d.ext(&tcp_seg(&L3::to_vip(), port, vport, SYN, 7000, 0, b""));
    assert!(ext.is_empty());
    int.first().map(|f| parse_ip(f))
}

#[test]
fn a_passive_reply_names_the_vip_and_the_data_connection_gets_in() {
    let mut d = lab(&[21]);
    let got = pasv(&mut d, PASV_227);
    // parse_ip checked the IP and TCP checksums of the longer packet.
    assert_eq!(got.payload, VIP_227);
    assert_eq!((got.src, got.sport, got.seq), (VIP, 21, S0));
    assert_eq!(d.ctr(Ctr::FtpRewritten), 1);
    assert_eq!(d.ctr(Ctr::FtpExpected), 1);

    // The client's data connection from a port of its own to VIP:30000
    // goes to the real server at the port its reply named.
    let syn = data_syn(&mut d, 45000, 30000).expect("let in");
    assert_eq!(
        (syn.src, syn.sport, syn.dst, syn.dport),
        (CLIENT, 45000, RS1, 30000)
    );
    assert_eq!(d.ctr(Ctr::FtpData), 1);
    let (ext, _) = d.int(&tcp_seg(
        &L3::from_rs(RS1, CLIENT),
        30000,
        45000,
        SYN | ACK,
        9000,
        7001,
        b"",
    ));
    let synack = parse_ip(&ext[0]);
    assert_eq!(
        (synack.src, synack.sport),
        (VIP, 30000),
        "replies from the VIP"
    );
    // One data connection per reply: another port finds no service there.
    assert!(data_syn(&mut d, 45001, 30000).is_none());
    assert_eq!(d.ctr(Ctr::DropNoService), 1);
    let conns = d.conns(0);
    assert!(
        conns
            .iter()
            .any(|c| c.vip.1 == 30000 && c.dest.1 == 30000 && c.client.1 == 45000),
        "{conns:?}"
    );
}

/// A `227` on the server's segment that also closes its side (ACK, PSH and
/// FIN) is rewritten and its data connection expected, as the kernel's
/// `handle_response` (`ip_vs_core.c`) runs `ip_vs_ftp_out` before
/// `ip_vs_set_state`: the reply is read in the ESTABLISHED state the
/// segment found, not the FIN_WAIT it makes. ringvs read it after the step
/// and let it go as it came, expecting nothing.
#[test]
fn a_passive_reply_with_the_servers_fin_is_rewritten() {
    let mut d = lab(&[21]);
    control(&mut d);
    client(&mut d, ACK | PSH, C0, S0, b"PASV\r\n");
    let got = server(&mut d, ACK | PSH | FIN, S0, C0 + 6, PASV_227);
    assert_eq!(got.payload, VIP_227);
    assert_eq!(d.ctr(Ctr::FtpRewritten), 1);
    assert_eq!(d.ctr(Ctr::FtpExpected), 1);
    let syn = data_syn(&mut d, 45000, 30000).expect("let in");
    assert_eq!((syn.dst, syn.dport), (RS1, 30000));
}

/// The FTP lab with `--expire-nodest-conn`, its servers resolved, after a
/// PASV answered with [`PASV_227`].
fn nodest_pasv() -> MemDirector {
    let env = Env {
        sysctl: ringvs::dataplane::Sysctl {
            expire_nodest_conn: true,
            ..Default::default()
        },
        ..ftp_env(&[21])
    };
    let mut d = MemDirector::with_env(1, RULES, env, 1024);
    d.resolve_all();
    pasv(&mut d, PASV_227);
    d
}

/// With `expire_nodest_conn`, a SYN on a weight-0 server's connection is
/// rescheduled even when the connection is controlled, as the merged "ipvs:
/// Fix reuse connection if RS weight is 0" (2021) does in `ip_vs_in_hook`
/// (its `!cp->control` test is in `is_new_conn_expected`, the port-reuse
/// case, only): a data connection's retransmitted SYN after `-e ... -w 0`
/// expires it and, scheduled anew, finds no service on VIP:30000.
#[test]
fn a_retransmitted_data_syn_to_a_weight_0_server_is_rescheduled_with_expire_nodest_conn() {
    let mut d = nodest_pasv();
    assert_eq!(data_syn(&mut d, 45000, 30000).expect("let in").dst, RS1);
    let id = d.dest_id(ringvs::config::Proto::Tcp, 21, RS1, 21);
    d.publish_with(|s| {
        for svc in s.services.values_mut() {
            for dest in svc.dests.iter_mut().filter(|x| x.id == id) {
                dest.weight = 0;
            }
        }
    });
    assert!(data_syn(&mut d, 45000, 30000).is_none());
    assert_eq!(d.ctr(Ctr::ConnExpired), 1);
    assert_eq!(d.ctr(Ctr::DropNoService), 1);
    assert_eq!(d.ctr(Ctr::FtpData), 1);
}

/// Port reuse (`conn_reuse_mode` 1) skips a data connection too, as any
/// controlled one (`ip_vs_in_hook`: `!cp->control`): a SYN from the client
/// port of a data connection in TIME_WAIT goes on it, to RS1:30000.
/// ringvs expired it and found no service on VIP:30000 for the SYN.
#[test]
fn a_syn_reusing_a_finished_data_connections_port_goes_on_it() {
    let (mut d, from_rs) = with_data_connection();
    let c = L3::to_vip();
    assert_eq!(
        d.ext(&tcp_seg(&c, 45000, 30000, ACK, 7001, 9001, b""))
            .1
            .len(),
        1
    );
    let fin = tcp_seg(&from_rs, 30000, 45000, FIN | ACK, 9001, 7001, b"");
    assert_eq!(d.int(&fin).0.len(), 1);
    let fin = tcp_seg(&c, 45000, 30000, FIN | ACK, 7001, 9002, b"");
    assert_eq!(d.ext(&fin).1.len(), 1);
    let tw = |d: &mut MemDirector| {
        d.conns(0)
            .iter()
            .any(|x| x.state == ringvs::nat::State::TimeWait)
    };
    assert!(tw(&mut d), "{:?}", d.conns(0));
    let syn = data_syn(&mut d, 45000, 30000).expect("forwarded");
    assert_eq!((syn.dst, syn.dport), (RS1, 30000));
    assert_eq!(d.ctr(Ctr::ConnExpired), 0);
    assert_eq!(d.ctr(Ctr::DropNoService), 0);
}

/// A passive transfer is one connection in `--stats` (`Conns`): IPVS counts
/// a connection in `ip_vs_conn_stats` (`ip_vs_core.c`), called where the
/// scheduler made it (`ip_vs_schedule`, `ip_vs_sched_persist`,
/// `ip_vs_new_conn_out`), never by `ip_vs_ftp`, whose data connections
/// only `ip_vs_conn_new` makes. ringvs counted the data connection too (2);
/// `conn_new` and `ftp_data` still count it. Its packets and bytes count.
#[test]
fn a_passive_transfer_is_one_connection_in_the_servers_stats() {
    let mut d = lab(&[21]);
    pasv(&mut d, PASV_227);
    data_syn(&mut d, 45000, 30000).expect("let in");
    let id = d.dest_id(ringvs::config::Proto::Tcp, 21, RS1, 21);
    let st = d.published[0].dest_stats(id);
    assert_eq!(st.conns, 1, "{st:?}");
    assert_eq!(st.inpkts, 4, "3 on the control connection, the data SYN");
    assert_eq!(d.ctr(Ctr::ConnNew), 2);
    assert_eq!(d.ctr(Ctr::FtpData), 1);
}

#[test]
fn the_servers_stream_moves_by_what_the_rewrite_added() {
    let mut d = lab(&[21]);
    let grew = (VIP_227.len() - PASV_227.len()) as u32;
    assert_eq!(grew, 2);
    pasv(&mut d, PASV_227);
    // The client acknowledges what it got; the server hears its own count.
    let ack = client(&mut d, ACK, C0 + 6, S0 + VIP_227.len() as u32, b"");
    assert_eq!(ack.ack, S0 + PASV_227.len() as u32);
    // An acknowledgement of what came before the rewrite is not moved.
    assert_eq!(client(&mut d, ACK, C0 + 6, S0, b"").ack, S0);
    // The server's next bytes reach the client 2 further on.
    let next = S0 + PASV_227.len() as u32;
    let got = server(&mut d, ACK | PSH, next, C0 + 6, b"150 Here it comes.\r\n");
    assert_eq!(got.seq, next + grew);
    assert_eq!(got.payload, b"150 Here it comes.\r\n");
    // A retransmission of the reply is rewritten the same way, and moves
    // nothing more.
    let again = server(&mut d, ACK | PSH, S0, C0 + 6, PASV_227);
    assert_eq!((again.seq, again.payload.as_slice()), (S0, VIP_227));
    assert_eq!(d.ctr(Ctr::FtpRewritten), 2);
    let got = server(&mut d, ACK, next + 20, C0 + 6, b"");
    assert_eq!(got.seq, next + 20 + grew);
    // SACK blocks of the client's are mapped back too.
    let sacked = client_sack(
        &mut d,
        next + 20 + grew,
        (next + 40 + grew, next + 60 + grew),
    );
    assert_eq!(sacked, (next + 20, next + 40, next + 60));
}

/// A client ACK of `ack` with one SACK block: the acknowledgement and the
/// block's edges as the real server got them.
fn client_sack(d: &mut MemDirector, ack: u32, (left, right): (u32, u32)) -> (u32, u32, u32) {
    let l3 = L3::to_vip();
    let mut buf = vec![0u8; 32];
    {
        let mut t = MutableTcpPacket::new(&mut buf).expect("fits");
        t.set_source(CPORT);
        t.set_destination(21);
        t.set_sequence(C0 + 6);
        t.set_acknowledgement(ack);
        t.set_data_offset(8);
        t.set_flags(ACK);
        t.set_window(64240);
    }
    buf[20..24].copy_from_slice(&[1, 1, 5, 10]);
    buf[24..28].copy_from_slice(&left.to_be_bytes());
    buf[28..32].copy_from_slice(&right.to_be_bytes());
    {
        let mut t = MutableTcpPacket::new(&mut buf).expect("fits");
        let c = ptcp::ipv4_checksum(&t.to_immutable(), &l3.src, &l3.dst);
        t.set_checksum(c);
    }
    let (_, int) = d.ext(&ip_frame(&l3, 6, &buf));
    let p = parse_ip(&int[0]);
    let at = |i: usize| u32::from_be_bytes([p.l4[i], p.l4[i + 1], p.l4[i + 2], p.l4[i + 3]]);
    assert_eq!(&p.l4[20..24], &[1, 1, 5, 10]);
    (p.ack, at(24), at(28))
}

#[test]
fn an_extended_passive_reply_keeps_its_form() {
    let mut d = lab(&[21]);
    control(&mut d);
    client(&mut d, ACK | PSH, C0, S0, b"EPSV\r\n");
    let reply = b"229 Entering Extended Passive Mode (|||30001|)\r\n";
    let got = server(&mut d, ACK | PSH, S0, C0 + 6, reply);
    assert_eq!(got.payload, reply);
    assert_eq!(d.ctr(Ctr::FtpRewritten), 1);
    let syn = data_syn(&mut d, 45000, 30001).expect("let in");
    assert_eq!((syn.dst, syn.dport), (RS1, 30001));
    // Same length: nothing moves.
    let got = server(&mut d, ACK, S0 + reply.len() as u32, C0 + 6, b"");
    assert_eq!(got.seq, S0 + reply.len() as u32);
}

#[test]
fn an_active_data_connection_leaves_from_the_vips_port_20() {
    let mut d = lab(&[21]);
    control(&mut d);
    // PORT 198,18,0,1,156,128: the client's own address, port 40064.
    let cmd = b"PORT 198,18,0,1,156,128\r\n";
    let got = client(&mut d, ACK | PSH, C0, S0, cmd);
    assert_eq!(
        got.payload, cmd,
        "not rewritten: the server sees the client"
    );
    let port = 156 * 256 + 128;
    let (ext, int) = d.int(&tcp_seg(
        &L3::from_rs(RS1, CLIENT),
        20,
        port,
        SYN,
        9000,
        0,
        b"",
    ));
    assert!(int.is_empty());
    let syn = parse_ip(&ext[0]);
    assert_eq!(
        (syn.src, syn.sport, syn.dst, syn.dport),
        (VIP, 20, CLIENT, port)
    );
    assert_eq!(d.ctr(Ctr::FtpData), 1);
    let (_, int) = d.ext(&tcp_seg(
        &L3::to_vip(),
        port,
        20,
        SYN | ACK,
        7000,
        9001,
        b"",
    ));
    let synack = parse_ip(&int[0]);
    assert_eq!((synack.dst, synack.dport), (RS1, 20));
}

#[test]
fn the_helper_refuses_a_port_naming_another_host() {
    let mut d = lab(&[21]);
    control(&mut d);
    // The "FTP bounce": the server would connect to a third host.
    client(&mut d, ACK | PSH, C0, S0, b"PORT 198,18,0,7,156,128\r\n");
    assert_eq!((d.ctr(Ctr::FtpRefused), d.ctr(Ctr::FtpExpected)), (1, 0));
    let (ext, int) = d.int(&tcp_seg(
        &L3::from_rs(RS1, CLIENT2),
        20,
        40064,
        SYN,
        9000,
        0,
        b"",
    ));
    assert!(ext.is_empty() && int.is_empty());
    // A passive reply naming another server is left as it is.
    client(&mut d, ACK | PSH, C0 + 25, S0, b"PASV\r\n");
    let other = b"227 Entering Passive Mode (198,19,0,3,117,48).\r\n";
    let got = server(&mut d, ACK | PSH, S0, C0 + 31, other);
    assert_eq!(got.payload, other);
    assert_eq!(d.ctr(Ctr::FtpRefused), 2);
    assert!(data_syn(&mut d, 45000, 30000).is_none());
}

/// A `PORT` or a `227` reply split inside its last number (`…,117,4`,
/// then `8…` in the next segment) is not taken, as IPVS's
/// `ip_vs_ftp_get_addrport` gives up when its number loop reaches the
/// segment's end: no data connection on the wrong port, and the reply goes
/// out as it came (its second half alone is no reply either).
#[test]
fn a_command_or_reply_split_inside_its_last_number_is_not_taken() {
    let mut d = lab(&[21]);
    control(&mut d);
    let (one, two) = (&b"PORT 198,18,0,1,117,4"[..], &b"8\r\n"[..]);
    assert_eq!(client(&mut d, ACK | PSH, C0, S0, one).payload, one);
    assert_eq!(client(&mut d, ACK | PSH, C0 + 21, S0, two).payload, two);
    assert_eq!(d.ctr(Ctr::FtpExpected), 0);
    // The server's connection to the cut port (117,4: 29956) has nothing.
    let (ext, int) = d.int(&tcp_seg(
        &L3::from_rs(RS1, CLIENT),
        20,
        29956,
        SYN,
        9000,
        0,
        b"",
    ));
    assert!(ext.is_empty() && int.is_empty());

    let mut d = lab(&[21]);
    control(&mut d);
    client(&mut d, ACK | PSH, C0, S0, b"PASV\r\n");
    let one = &b"227 Entering Passive Mode (198,19,0,2,117,4"[..];
    let two = &b"8).\r\n"[..];
    assert_eq!(server(&mut d, ACK | PSH, S0, C0 + 6, one).payload, one);
    let got = server(&mut d, ACK | PSH, S0 + 43, C0 + 6, two);
    assert_eq!((got.payload.as_slice(), got.seq), (two, S0 + 43));
    assert_eq!((d.ctr(Ctr::FtpRewritten), d.ctr(Ctr::FtpExpected)), (0, 0));
    assert!(data_syn(&mut d, 45000, 29956).is_none());
}

#[test]
fn without_the_helper_or_on_another_port_nothing_is_read() {
    for ports in [&[][..], &[2121][..]] {
        let mut d = lab(ports);
        let got = pasv(&mut d, PASV_227);
        assert_eq!(got.payload, PASV_227, "ports {ports:?}");
        assert!(data_syn(&mut d, 45000, 30000).is_none());
        assert_eq!(d.ctr(Ctr::FtpExpected), 0);
    }
}

#[test]
fn a_reply_nobody_asked_for_is_not_rewritten() {
    let mut d = lab(&[21]);
    control(&mut d);
    let got = server(&mut d, ACK | PSH, S0, C0, PASV_227);
    assert_eq!(got.payload, PASV_227);
    assert_eq!(d.ctr(Ctr::FtpExpected), 0);
}

#[test]
fn ftp_ports_are_checked() {
    assert!(FtpPorts::new(&[21, 2121]).is_ok());
    assert!(FtpPorts::new(&[0]).is_err());
    assert!(FtpPorts::new(&[1, 2, 3, 4, 5, 6, 7, 8, 9]).is_err());
    assert_eq!(FtpPorts::new(&[21, 21]).expect("dup").list(), &[21]);
}

/// A client segment with a 60-byte TCP header (NOP options) to the control
/// port, cut into IPv4 fragments of 24 payload bytes: the first holds only
/// 24 of the header's 60 bytes.
fn fragmented_control(flags: u8, seq: u32) -> Vec<Vec<u8>> {
    let l3 = L3::to_vip();
    let mut buf = vec![1u8; 60];
    {
        let mut t = MutableTcpPacket::new(&mut buf).expect("fits");
        t.set_source(CPORT);
        t.set_destination(21);
        t.set_sequence(seq);
        t.set_data_offset(15);
        t.set_flags(flags);
        t.set_window(64240);
        t.set_checksum(0);
        let c = ptcp::ipv4_checksum(&t.to_immutable(), &l3.src, &l3.dst);
        t.set_checksum(c);
    }
    cut(&ip_frame(&l3, 6, &buf), 24)
}

#[test]
fn fragments_on_a_control_connection_go_on_as_they_are() {
    let mut d = lab(&[21]);
    // A SYN whose first fragment does not hold its whole TCP header.
    let mut sent = Vec::new();
    for f in fragmented_control(SYN, C0 - 1) {
        let (ext, int) = d.ext(&f);
        assert!(ext.is_empty());
        sent.extend(int);
    }
    assert_eq!(sent.len(), 3, "{:?}", drops(&d.w().core.ctr));
    let whole = [&sent[0][..14], &reassemble(&sent, 1500)[..]].concat();
    let p = parse_ip(&whole);
    assert_eq!((p.dst, p.dport, p.flags), (RS1, 21, SYN));

    // After a rewrite: a fragmented server segment is not read, but its
    // sequence number is shifted, and its pieces still make a valid
    // segment (parse_ip checks the TCP checksum over the whole).
    let mut d = lab(&[21]);
    pasv(&mut d, PASV_227);
    let next = S0 + PASV_227.len() as u32;
    let text = b"150 Here it comes, in pieces of thirty-two.\r\n";
    let f = tcp_seg(
        &L3::from_rs(RS1, CLIENT),
        21,
        CPORT,
        ACK | PSH,
        next,
        C0 + 6,
        text,
    );
    let mut out = Vec::new();
    for piece in cut(&f, 32) {
        out.extend(d.int(&piece).0);
    }
    let whole = [&out[0][..14], &reassemble(&out, 1500)[..]].concat();
    let p = parse_ip(&whole);
    assert_eq!(
        (p.src, p.seq, p.payload.as_slice()),
        (VIP, next + 2, &text[..])
    );
    // And a fragmented acknowledgement of the client's is mapped back.
    let ack = S0 + VIP_227.len() as u32;
    let f = tcp_seg(
        &L3::to_vip(),
        CPORT,
        21,
        ACK | PSH,
        C0 + 6,
        ack,
        b"NOOP and more\r\n",
    );
    let mut out = Vec::new();
    for piece in cut(&f, 24) {
        out.extend(d.ext(&piece).1);
    }
    let whole = [&out[0][..14], &reassemble(&out, 1500)[..]].concat();
    assert_eq!(parse_ip(&whole).ack, S0 + PASV_227.len() as u32);
}

#[test]
fn a_late_copy_of_a_reply_is_not_the_next_one() {
    let mut d = lab(&[21]);
    pasv(&mut d, PASV_227);
    // A second PASV; then a late copy of the first reply, then the answer.
    let next = S0 + PASV_227.len() as u32;
    client(
        &mut d,
        ACK | PSH,
        C0 + 6,
        S0 + VIP_227.len() as u32,
        b"PASV\r\n",
    );
    let copy = server(&mut d, ACK | PSH, S0, C0 + 12, PASV_227);
    assert_eq!((copy.seq, copy.payload.as_slice()), (S0, VIP_227));
    assert_eq!(d.ctr(Ctr::FtpExpected), 1, "the copy expects nothing");
    let second = b"227 Entering Passive Mode (198,19,0,2,117,49).\r\n";
    let got = server(&mut d, ACK | PSH, next, C0 + 12, second);
    assert_eq!(
        got.payload,
        b"227 Entering Passive Mode (198,18,0,110,117,49).\r\n"
    );
    assert_eq!(got.seq, next + 2);
    assert_eq!(d.ctr(Ctr::FtpExpected), 2);
    assert!(data_syn(&mut d, 45000, 30001).is_some());
}

#[test]
fn a_retransmitted_reply_expects_nothing_more() {
    let mut d = lab(&[21]);
    pasv(&mut d, PASV_227);
    assert!(data_syn(&mut d, 45000, 30000).is_some());
    // The client did not acknowledge the reply: the server sends it again.
    let again = server(&mut d, ACK | PSH, S0, C0 + 6, PASV_227);
    assert_eq!(again.payload, VIP_227, "rewritten the same way");
    assert_eq!(d.ctr(Ctr::FtpExpected), 1);
    assert!(
        data_syn(&mut d, 45001, 30000).is_none(),
        "one data connection"
    );
}

#[test]
fn a_control_connection_expects_one_data_connection_at_a_time() {
    let mut d = lab(&[21]);
    control(&mut d);
    // A client repeating PORT: each replaces the one before.
    let mut seq = C0;
    for port in 41000..41100u16 {
        let cmd = format!("PORT 198,18,0,1,{},{}\r\n", port >> 8, port & 0xff);
        client(&mut d, ACK | PSH, seq, S0, cmd.as_bytes());
        seq += cmd.len() as u32;
    }
    assert_eq!(d.ctr(Ctr::FtpExpected), 100);
    assert_eq!(d.shared.expects.len(), 1, "one pending");
    let rs_syn = |d: &mut MemDirector, port: u16| {
        let f = tcp_seg(&L3::from_rs(RS1, CLIENT), 20, port, SYN, 9000, 0, b"");
        d.int(&f).0.len()
    };
    assert_eq!(rs_syn(&mut d, 41000), 0, "replaced");
    assert_eq!(rs_syn(&mut d, 41099), 1, "the last one");
    // A passive reply replaces an active expectation too.
    client(&mut d, ACK | PSH, seq, S0, b"PORT 198,18,0,1,160,0\r\n");
    client(&mut d, ACK | PSH, seq + 23, S0, b"PASV\r\n");
    server(&mut d, ACK | PSH, S0, seq + 29, PASV_227);
    assert_eq!(d.shared.expects.len(), 1);
    assert_eq!(rs_syn(&mut d, 160 * 256), 0);
    assert!(data_syn(&mut d, 45000, 30000).is_some());
}

#[test]
fn a_syn_on_an_established_control_connection_keeps_its_shift() {
    let mut d = lab(&[21]);
    pasv(&mut d, PASV_227);
    // A stray (or forged) SYN with the client's ports.
    client(&mut d, SYN, 77, 0, b"");
    let next = S0 + PASV_227.len() as u32;
    let got = server(&mut d, ACK, next, C0 + 6, b"");
    assert_eq!(got.seq, next + 2, "still shifted");
}

#[test]
fn two_clients_behind_one_address_keep_their_data_connections_apart() {
    // Two real servers: rr gives the second control connection RS2 (added
    // first: the kernel's list, newest first, meets RS1 first).
    let rules = [
        RULES[0],
        "-a -t 198.18.0.110:21 -r 198.19.0.3:21 -m",
        RULES[1],
    ];
    let env = Env {
        ftp: FtpPorts::new(&[21]).expect("ports"),
        ..env()
    };
    let mut d = MemDirector::with_env(1, &rules, env, 1024);
    d.resolve_all();
    pasv(&mut d, PASV_227);
    // A second control connection from the same address, to RS2, whose
    // server picks the same passive port.
    let (cport, rs2_227) = (40001, b"227 Entering Passive Mode (198,19,0,3,117,48).\r\n");
    let c = |d: &mut MemDirector, flags, seq, ack, data: &[u8]| {
        let f = tcp_seg(&L3::to_vip(), cport, 21, flags, seq, ack, data);
        assert_eq!(d.ext(&f).1.len(), 1);
    };
    let s = |d: &mut MemDirector, flags, seq, ack, data: &[u8]| {
        let f = tcp_seg(&L3::from_rs(RS2, CLIENT), 21, cport, flags, seq, ack, data);
        parse_ip(&d.int(&f).0[0])
    };
    c(&mut d, SYN, C0 - 1, 0, b"");
    s(&mut d, SYN | ACK, S0 - 1, C0, b"");
    c(&mut d, ACK, C0, S0, b"");
    c(&mut d, ACK | PSH, C0, S0, b"PASV\r\n");
    let got = s(&mut d, ACK | PSH, S0, C0 + 6, rs2_227);
    // The first keeps VIP:30000: the second's reply is left as it is.
    assert_eq!(got.payload, rs2_227);
    assert_eq!((d.ctr(Ctr::FtpRefused), d.ctr(Ctr::FtpExpected)), (1, 1));
    let syn = data_syn(&mut d, 45000, 30000).expect("the first's");
    assert_eq!(syn.dst, RS1);
    // The refused reply, sent again once the key is free, goes as it
    // came the first time, and the stream after it is not moved.
    let again = s(&mut d, ACK | PSH, S0, C0 + 6, rs2_227);
    assert_eq!(again.payload, rs2_227);
    let next = S0 + rs2_227.len() as u32;
    assert_eq!(s(&mut d, ACK, next, C0 + 6, b"").seq, next);
}

/// A director with a passive FTP control connection and its data
/// connection (client port 45000, server port 30000) established; the
/// real server's side, to send from.
fn with_data_connection() -> (MemDirector, L3) {
    let mut d = lab(&[21]);
    pasv(&mut d, PASV_227);
    data_syn(&mut d, 45000, 30000).expect("let in");
    let from_rs = L3::from_rs(RS1, CLIENT);
    d.int(&tcp_seg(&from_rs, 30000, 45000, SYN | ACK, 9000, 7001, b""));
    (d, from_rs)
}

/// A packet of that data connection from the client: how many frames went.
fn busy(d: &mut MemDirector) -> usize {
    let f = tcp_seg(&L3::to_vip(), 45000, 30000, ACK, 7001, 9001, b"");
    d.ext(&f).1.len()
}

#[test]
fn a_control_connection_outlives_its_timeout_while_a_data_connection_lives() {
    use std::time::Duration;
    // The data connection, established, and busy every 300 s.
    let (mut d, from_rs) = with_data_connection();
    assert_eq!(busy(&mut d), 1);
    // The control connection is idle four ESTABLISHED timeouts (900 s).
    for _ in 0..12 {
        d.advance(Duration::from_secs(300));
        d.poll();
        assert_eq!(busy(&mut d), 1, "the data connection lives");
    }
    let next = S0 + PASV_227.len() as u32;
    let got = server(
        &mut d,
        ACK | PSH,
        next,
        C0 + 6,
        b"226 Transfer complete.\r\n",
    );
    assert_eq!(
        got.seq,
        next + 2,
        "the control connection, and its shift, held"
    );
    // The data connection gone, the control connection goes a timeout later.
    d.advance(Duration::from_secs(1000));
    d.poll();
    assert!(busy(&mut d) == 0, "the data connection expired");
    d.advance(Duration::from_secs(1000));
    d.poll();
    let f = tcp_seg(&from_rs, 21, CPORT, ACK, next + 24, C0 + 6, b"");
    assert!(d.int(&f).0.is_empty(), "the control connection expired");
}

/// As IPVS's `ip_vs_conn_expire` (`expire_later`: `cp->timeout = 60*HZ`),
/// a control connection kept past its timeout for its data connection is
/// re-armed for 60 s at a time, so it goes within 60 s of its last data
/// connection, where ringvs kept it a whole ESTABLISHED timeout (900 s)
/// more.
#[test]
fn a_kept_control_connection_goes_within_60_s_of_its_last_data_connection() {
    use std::time::Duration;
    let (mut d, from_rs) = with_data_connection();
    assert_eq!(busy(&mut d), 1, "established");
    // The data connection busy until 1200 s, past the control
    // connection's 900 s.
    for _ in 0..4 {
        d.advance(Duration::from_secs(300));
        d.poll();
        assert_eq!(busy(&mut d), 1, "the data connection lives");
    }
    // Then idle: it expires (900 s on), and the control connection follows
    // it within 60 s.
    let (mut t, mut data_gone, mut control_gone) = (1200, None, None);
    while control_gone.is_none() && t < 4000 {
        d.advance(Duration::from_secs(5));
        d.poll();
        t += 5;
        match d.w().core.table.len() {
            2 => {}
            1 => _ = data_gone.get_or_insert(t),
            _ => control_gone = Some(t),
        }
    }
    let (data_gone, control_gone) = (data_gone.expect("data"), control_gone.expect("control"));
    assert!(
        data_gone >= 2100,
        "the data connection's timeout: {data_gone}"
    );
    assert!(
        control_gone - data_gone <= 60,
        "data gone at {data_gone}, control at {control_gone}"
    );
    let next = S0 + PASV_227.len() as u32;
    let f = tcp_seg(&from_rs, 21, CPORT, ACK, next, C0 + 6, b"");
    assert!(d.int(&f).0.is_empty(), "the control connection expired");
}

/// As IPVS's master (`ip_vs_conn_expire` calls `ip_vs_sync_conn` as it
/// re-arms a connection, `expire_later`), a control connection kept past
/// its timeout for its data connection is reported to the sync master at
/// each re-arm, with the re-armed 60 s as its timeout, so that a backup's
/// copy, which saw no packet of it either, does not expire while the
/// master keeps it. Without a master daemon, nothing is reported.
#[test]
fn a_kept_control_connection_is_synced_at_each_re_arm() {
    use ringvs::dataplane::sync::SyncEntry;
    use ringvs::nat::State;
    use std::time::Duration;
    let (mut d, _) = with_data_connection();
    // The re-arms alone: no resend sweep.
    d.shared.ha.set_resend_s(0);
    role(&d, true, false);
    // The control connection's reports: when (seconds on), and the entry.
    let mut got: Vec<(u64, SyncEntry)> = Vec::new();
    let mut t = 0;
    let step = |d: &mut MemDirector, got: &mut Vec<_>, t: &mut u64| {
        d.advance(Duration::from_secs(30));
        *t += 30;
        d.poll();
        assert_eq!(busy(d), 1, "the data connection lives");
        let reports = d.sync.reports.iter().flat_map(|r| r.try_iter());
        got.extend(reports.filter(|e| e.vip.1 == 21).map(|e| (*t, e)));
    };
    while t < 1200 {
        step(&mut d, &mut got, &mut t);
    }
    // Idle since 0: due at 900 (ESTABLISHED), then every 60 s.
    let when: Vec<u64> = got.iter().map(|(t, _)| *t).collect();
    assert_eq!(when, [900, 960, 1020, 1080, 1140, 1200]);
    for (_, e) in &got {
        assert_eq!(e.client, (be(CLIENT), CPORT));
        assert_eq!(
            (e.state, e.timeout, e.template),
            (State::Established, 60, false)
        );
        assert_eq!(e.rip, (be(RS1), 21));
    }
    // Kept as before without a master daemon, and not reported.
    role(&d, false, false);
    got.clear();
    while t < 1500 {
        step(&mut d, &mut got, &mut t);
    }
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(d.w().core.table.len(), 2, "the control connection kept");
}

/// The resend sweep sends a kept control connection (ESTABLISHED, idle
/// past its 900 s) with what is left of the 60 s its timer was re-armed
/// with (`expire_later`, `ip_vs_conn_expire`, `ip_vs_conn.c`, which syncs
/// it with all 60 as it re-arms): not its state's 900 s, which would have a
/// kernel backup keep its copy 15 minutes past the master's next re-arm,
/// nor a full 60 s in the middle of the period.
#[test]
fn the_resend_sweep_sends_a_kept_control_connection_with_what_is_left_of_its_60_s() {
    use std::time::Duration;
    let (mut d, _) = with_data_connection();
    d.shared.ha.set_resend_s(10);
    role(&d, true, false);
    // The control connection's reports: when (seconds on), and timeout.
    let mut got = Vec::new();
    for t in 1..=1000u32 {
        d.advance(Duration::from_secs(1));
        d.poll();
        if t % 30 == 0 {
            assert_eq!(busy(&mut d), 1, "the data connection lives");
        }
        let reports = d.sync.reports.iter().flat_map(|r| r.try_iter());
        got.extend(reports.filter(|e| e.vip.1 == 21).map(|e| (t, e.timeout)));
    }
    let (before, after): (Vec<_>, Vec<_>) = got.iter().partition(|(t, _)| *t < 900);
    // Resent every 10 s while its 900 s run, with what is left of them.
    assert!(before.len() >= 80, "{before:?}");
    assert!(
        before.iter().all(|&(t, s)| (t + s).abs_diff(900) <= 1),
        "{before:?}"
    );
    // Kept at 900: each re-arm (900, 960) sends all 60 s; a resend between
    // them what is left of those, so that every report ends where the
    // master's 60 s do.
    assert!(after.len() >= 10, "{after:?}");
    let rearms: Vec<u32> = after.iter().filter(|e| e.1 == 60).map(|e| e.0).collect();
    assert!(rearms.len() >= 2, "{after:?}");
    for &(t, s) in &after {
        let armed = rearms.iter().rev().find(|&&r| r <= t).expect("re-armed");
        assert!(
            s <= 60 && (armed + 60).abs_diff(t + s) <= 1,
            "{t}: {s} in {after:?}"
        );
    }
    assert!(
        after.iter().any(|&(t, s)| t > 900 && t < 960 && s < 60),
        "{after:?}"
    );
}

/// A kept control connection in a state whose timeout is under 60 s
/// (CLOSE's 10 s, after the client's RST) is re-armed for 60 s, as the
/// kernel's (`expire_later` sets `cp->timeout` to 60 s whatever the
/// state's), so a sync master reports it at its 10 s timeout and then every
/// 60 s, not every 10 s; and once its data connection is gone it goes at
/// its next 60 s mark. The resend sweep, on or off, adds nothing: a CLOSE
/// connection is not resent, kept or not (`resends`), and the kernel too
/// syncs one that gets no packets only at each re-arm.
#[test]
fn a_kept_control_connection_in_close_is_re_armed_and_synced_every_60_s() {
    for resend_s in [0, 10] {
        kept_in_close(resend_s);
    }
}

fn kept_in_close(resend_s: u32) {
    use std::time::Duration;
    let (mut d, _) = with_data_connection();
    assert_eq!(busy(&mut d), 1, "the data connection established");
    d.shared.ha.set_resend_s(resend_s);
    role(&d, true, false);
    let rst = tcp_seg(&L3::to_vip(), CPORT, 21, RST, C0 + 6, 0, b"");
    assert_eq!(d.ext(&rst).1.len(), 1, "the RST forwarded");
    // The control connection's reports: when (seconds on), and timeout.
    let mut got = Vec::new();
    let take = |d: &MemDirector, got: &mut Vec<(u32, u32)>, t| {
        let reports = d.sync.reports.iter().flat_map(|r| r.try_iter());
        got.extend(reports.filter(|e| e.vip.1 == 21).map(|e| (t, e.timeout)));
    };
    take(&d, &mut got, 0);
    let mut listed = Vec::new();
    for t in 1..=200 {
        d.advance(Duration::from_secs(1));
        d.poll();
        take(&d, &mut got, t);
        // `-L -c` shows the re-arm's 60 s counting down, as the kernel
        // shows its timer, not CLOSE's 10 s run out.
        if [5, 100, 129].contains(&t) {
            let c = d.conns(0);
            let c = c.iter().find(|c| c.vip.1 == 21).expect("listed");
            listed.push((t, c.expires_in));
        }
    }
    assert_eq!(got, [(0, 10), (10, 60), (70, 60), (130, 60), (190, 60)]);
    assert_eq!(listed, [(5, 5), (100, 30), (129, 1)]);
    // The data connection goes (its RST: CLOSE, 10 s); the control
    // connection at its next mark, 250, not 10 s after.
    let f = tcp_seg(&L3::to_vip(), 45000, 30000, RST, 7001, 0, b"");
    assert_eq!(d.ext(&f).1.len(), 1);
    let mut left = None;
    for t in 201..=260 {
        d.advance(Duration::from_secs(1));
        d.poll();
        if left.is_none() && d.w().core.table.is_empty() {
            left = Some(t);
        }
    }
    assert_eq!(left, Some(250), "the control connection's last mark");
}

/// The template part of that report: a kept control connection of a
/// persistent FTP service is sent at each re-arm with its persistence
/// template, as `ip_vs_sync_conn` goes on to `cp->control` (the template,
/// with its own timeout, its `-p`, which has not run out: the control
/// connection holds it).
#[test]
fn a_kept_control_connections_re_arm_report_brings_its_template() {
    use ringvs::dataplane::sync::SyncEntry;
    use ringvs::nat::State;
    use std::time::Duration;
    let rules = ["-A -t 198.18.0.110:21 -s rr -p 1800", RULES[1]];
    let mut d = MemDirector::with_env(1, &rules, ftp_env(&[21]), 1024);
    d.resolve_all();
    pasv(&mut d, PASV_227);
    data_syn(&mut d, 45000, 30000).expect("let in");
    let from_rs = L3::from_rs(RS1, CLIENT);
    d.int(&tcp_seg(&from_rs, 30000, 45000, SYN | ACK, 9000, 7001, b""));
    d.shared.ha.set_resend_s(0);
    role(&d, true, false);
    // Reports of the control connection's port (it and its template).
    let mut got: Vec<(u64, SyncEntry)> = Vec::new();
    let mut t = 0;
    while t < 1080 {
        d.advance(Duration::from_secs(30));
        t += 30;
        d.poll();
        assert_eq!(busy(&mut d), 1, "the data connection lives");
        let reports = d.sync.reports.iter().flat_map(|r| r.try_iter());
        got.extend(reports.filter(|e| e.vip.1 == 21).map(|e| (t, e)));
    }
    let when: Vec<u64> = got.iter().map(|(t, _)| *t).collect();
    assert_eq!(when, [900, 900, 960, 960, 1020, 1020, 1080, 1080]);
    for pair in got.chunks(2) {
        let (c, tpl) = (pair[0].1, pair[1].1);
        assert_eq!(
            (c.template, c.timeout, c.client),
            (false, 60, (be(CLIENT), CPORT))
        );
        assert_eq!((tpl.template, tpl.timeout), (true, 1800), "{tpl:?}");
        assert_eq!(tpl.state, State::Established, "assured");
        assert_eq!((tpl.client, tpl.vip), ((be(CLIENT), 0), (be(VIP), 21)));
        assert_eq!(tpl.rip, (be(RS1), 21));
    }
}

/// Connection sync carries a control connection's shift (IPVS's `out_seq`
/// in `IPVS_OPT_SEQ_DATA`): the master's worker reports it when a rewrite
/// moves the stream; through the master daemon's packing and the backup
/// daemon's intake a standby takes it, and once active goes on shifting
/// the stream, a second rewrite on top of the first.
#[test]
fn a_director_taking_over_goes_on_shifting_the_stream() {
    let mut a = lab(&[21]);
    role(&a, true, false);
    let mut b = lab(&[21]);
    role(&b, false, true);
    pasv(&mut a, PASV_227);
    let grew = (VIP_227.len() - PASV_227.len()) as u32;
    sync_to(&a, &mut b);
    // Reported when established (no shift yet), then at the rewrite.
    assert_eq!(b.ctr(Ctr::SyncInstalled), 1);
    assert_eq!(b.ctr(Ctr::SyncUpdated), 1);
    assert_eq!(b.ctr(Ctr::FtpSynced), 1);

    role(&b, false, false);
    // The client's acknowledgement of the rewritten reply, through B.
    let ack = client(&mut b, ACK, C0 + 6, S0 + VIP_227.len() as u32, b"");
    assert_eq!(ack.ack, S0 + PASV_227.len() as u32);
    let next = S0 + PASV_227.len() as u32;
    let got = server(&mut b, ACK | PSH, next, C0 + 6, b"226 Done.\r\n");
    assert_eq!(got.seq, next + grew, "B shifts as A did");
    // A second passive transfer: B rewrites its reply, shifted by the first.
    let got = client(&mut b, ACK | PSH, C0 + 6, next + grew + 11, b"PASV\r\n");
    assert_eq!(got.ack, next + 11);
    let second = next + 11;
    let got = server(&mut b, ACK | PSH, second, C0 + 12, PASV_227);
    assert_eq!((got.seq, got.payload.as_slice()), (second + grew, VIP_227));
    let after = second + PASV_227.len() as u32;
    let got = server(&mut b, ACK, after, C0 + 12, b"");
    assert_eq!(got.seq, after + 2 * grew, "both rewrites");
    let ack = client(&mut b, ACK, C0 + 12, after + 2 * grew, b"");
    assert_eq!(ack.ack, after);
    assert_eq!(b.ctr(Ctr::FtpRewritten), 1);
}

/// What the master daemon would send of `a`'s reports so far, taken by
/// `b`'s backup daemon and installed by its workers.
fn sync_to(a: &MemDirector, b: &mut MemDirector) {
    let msgs = ringvs::sync::daemon::messages(&a.sync, 7, 1472).expect("buffer");
    let intake = b.intake(7, &ftp_env(&[21]));
    for m in &msgs {
        intake.message(m);
    }
    b.poll();
}

/// Sets a director's role.
fn role(d: &MemDirector, master: bool, standby: bool) {
    d.shared.ha.set_master(master);
    d.shared.ha.set_standby(standby);
    d.shared.bump();
}

/// A control connection that closed and whose ports came back in a new
/// one to the same server: the standby keeps no shift of the old one (an
/// entry without the sequence option clears it, as IPVS's update takes the
/// entry's `SEQ_MASK` bits); and a shift sent again by the resend sweep
/// counts once.
#[test]
fn reused_ports_do_not_inherit_a_synced_shift() {
    use std::time::Duration;
    let mut a = lab(&[21]);
    role(&a, true, false);
    a.shared.ha.set_resend_s(1);
    let mut b = lab(&[21]);
    role(&b, false, true);
    pasv(&mut a, PASV_227);
    sync_to(&a, &mut b);
    assert_eq!(b.ctr(Ctr::FtpSynced), 1);
    // The resend sweep sends the connection and its shift again.
    let reported = a.ctr(Ctr::SyncReported);
    for _ in 0..3 {
        a.advance(Duration::from_millis(700));
        a.poll();
    }
    assert!(a.ctr(Ctr::SyncReported) > reported, "resent");
    sync_to(&a, &mut b);
    assert_eq!(b.ctr(Ctr::FtpSynced), 1, "the same shift counts once");
    // Closed: client FIN, server FIN, client ACK.
    let next = S0 + PASV_227.len() as u32;
    client(&mut a, FIN | ACK, C0 + 6, next + 2, b"");
    server(&mut a, FIN | ACK, next, C0 + 7, b"");
    client(&mut a, ACK, C0 + 7, next + 3, b"");
    sync_to(&a, &mut b);
    // The same client port again, a new connection on A (rr: one server).
    client(&mut a, SYN, 90_000, 0, b"");
    server(&mut a, SYN | ACK, 70_000, 90_001, b"");
    client(&mut a, ACK, 90_001, 70_001, b"");
    let got = server(&mut a, ACK | PSH, 70_001, 90_001, b"220 hi\r\n");
    assert_eq!(got.seq, 70_001, "A: a new connection is not shifted");
    sync_to(&a, &mut b);
    role(&b, false, false);
    let got = server(&mut b, ACK | PSH, 70_009, 90_001, b"220 hi\r\n");
    assert_eq!(got.seq, 70_009, "B: nor is it after the takeover");
}

/// A master's established IPv4 entry of CLIENT:`cport` to VIP:`vport` on
/// RS1:`dport`.
fn data_entry(cport: u16, vport: u16, dport: u16) -> ringvs::sync::wire::SyncConn {
    use ringvs::nat::State;
    use ringvs::sync::wire;
    wire::SyncConn {
        proto: 6,
        flags: wire::nat_flags(false, State::Established),
        state: wire::state_to_ipvs(State::Established),
        caddr: CLIENT,
        cport,
        vaddr: VIP,
        vport,
        daddr: RS1,
        dport,
        fwmark: 0,
        timeout: 900,
        seq: None,
        pe: None,
    }
}

/// A VIP-wide (port-0) service beside the FTP one, without the FTP
/// service's real server: a passive data connection's entry finds the
/// port-0 service but no server of it, and is installed as the helper's,
/// for the FTP service's server.
#[test]
fn a_port_0_service_does_not_hide_the_helpers_data_connections() {
    use ringvs::sync::wire::MessageBuilder;
    let rules = [
        RULES[0],
        RULES[1],
        "-A -t 198.18.0.110:0 -s rr -p 300",
        "-a -t 198.18.0.110:0 -r 198.19.0.3:0 -m",
    ];
    let mut d = MemDirector::with_env(1, &rules, ftp_env(&[21]), 1024);
    d.resolve_all();
    role(&d, false, true);
    let e = data_entry(45000, 30000, 30000);
    let mut msg = vec![0u8; 1472];
    let mut m = MessageBuilder::new(&mut msg, 1472, 7).expect("buffer");
    m.push(&e).expect("fits");
    let intake = d.intake(7, &ftp_env(&[21]));
    intake.message(m.as_bytes());
    let c = &intake.counters;
    let queued = c.conns_queued.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(queued, 1, "{:?}", c.drops());
    d.poll();
    let conns = d.conns(0);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].dest, (RS1.into(), 30000));
}

/// A backup installs the data connections the master's helper made,
/// though no service holds their ports: each goes to the real server of
/// the control connection's service on the same VIP (passive: VIP:port to
/// the server at that port; active: VIP:20 to the server's port 20), and
/// is served once the director is active. An entry that fits neither, or
/// any with the helper off, is dropped as of an unknown service or server.
#[test]
fn a_standby_installs_the_helpers_data_connections() {
    use ringvs::sync::wire::MessageBuilder;
    let entry = data_entry;
    let entries = [
        entry(45000, 30000, 30000), // passive
        entry(45001, 20, 20),       // active
        entry(45002, 30001, 30002), // neither
    ];
    let mut msg = vec![0u8; 1472];
    let mut m = MessageBuilder::new(&mut msg, 1472, 7).expect("buffer");
    for e in &entries {
        m.push(e).expect("fits");
    }
    let msg = m.as_bytes().to_vec();
    let count = |i: &ringvs::sync::daemon::Intake| {
        let c = &i.counters;
        let queued = c.conns_queued.load(std::sync::atomic::Ordering::Relaxed);
        // Of no service, or (found as `ip_vs_service_find` finds an FTP
        // data connection's: the port-21 service) of no server of it.
        let d = c.drops();
        let unknown = ["unknown_service", "unknown_dest"].map(|k| d.get(k).copied().unwrap_or(0));
        (queued, unknown.iter().sum::<u64>())
    };
    for (ports, want) in [(&[21][..], (2, 1)), (&[2121][..], (0, 3))] {
        let mut d = lab(ports);
        d.shared.ha.set_standby(true);
        d.shared.bump();
        let intake = d.intake(7, &ftp_env(ports));
        intake.message(&msg);
        assert_eq!(
            count(&intake),
            want,
            "helper on {ports:?}: {:?}",
            intake.counters.drops()
        );
        d.poll();
        if want.0 == 0 {
            assert!(d.conns(0).is_empty());
            continue;
        }
        let mut listed: Vec<_> = d
            .conns(0)
            .iter()
            .map(|c| (c.client.1, c.vip.1, c.dest))
            .collect();
        listed.sort();
        assert_eq!(
            listed,
            [
                (45000, 30000, (RS1.into(), 30000)),
                (45001, 20, (RS1.into(), 20))
            ]
        );
        d.shared.ha.set_standby(false);
        d.shared.bump();
        let (_, int) = d.ext(&tcp_seg(&L3::to_vip(), 45000, 30000, ACK, 7001, 9001, b""));
        let p = parse_ip(&int[0]);
        assert_eq!((p.dst, p.dport), (RS1, 30000), "served once active");
        let from_rs = L3::from_rs(RS1, CLIENT);
        let (ext, _) = d.int(&tcp_seg(&from_rs, 20, 45001, ACK, 9001, 7001, b"x"));
        let p = parse_ip(&ext[0]);
        assert_eq!((p.src, p.sport), (VIP, 20), "from VIP:20");
        assert_eq!(d.ctr(Ctr::DropNoConn) + d.ctr(Ctr::DropNoService), 0);
    }
}

/// An IPv6 TCP segment with its sequence and acknowledgement numbers, cut
/// after `cut` bytes of it into two fragments when given.
fn tcp6(
    l: &inmem::frames6::L3,
    (sport, dport, flags): (u16, u16, u8),
    (seq, ack): (u32, u32),
    data: &[u8],
    cut: Option<usize>,
) -> Vec<Vec<u8>> {
    use inmem::frames6::{Ext, TCP, frame, tcp_l4};
    let t = tcp_l4(l, (sport, dport, flags), (seq, ack), data);
    match cut {
        None => vec![frame(l, &[], TCP, &t)],
        Some(n) => {
            let piece = |offset: usize, more, bytes: &[u8]| {
                let ext = Ext::Fragment {
                    offset: (offset / 8) as u16,
                    more,
                    id: 0x77,
                };
                frame(l, &[ext], TCP, bytes)
            };
            vec![piece(0, true, &t[..n]), piece(n, false, &t[n..])]
        }
    }
}

/// An IPv6 FTP service on port 21 of one real server, the helper on it;
/// and its environment.
fn lab6() -> (MemDirector, Env) {
    let rules = [
        "-A -t [2001:2:0:1::110]:21 -s rr",
        "-a -t [2001:2:0:1::110]:21 -r [2001:2:0:2::2]:21 -m",
    ];
    let env = Env {
        ftp: FtpPorts::new(&[21]).expect("ports"),
        ..env6()
    };
    (MemDirector::with_env(1, &rules, env.clone(), 1024), env)
}

#[test]
fn ipv6_extended_passive_reply_and_its_shift() {
    let (mut d, _) = lab6();
    d.resolve6(ringvs::Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(ringvs::Nic::Int, RS1_6, RS1_MAC);
    let (c, r) = (l3_to_vip6(), l3_from_rs6(RS1_6, CLIENT6));
    let client = |d: &mut MemDirector, f: u8, sa: (u32, u32), data: &[u8], cut| {
        let out: Vec<Vec<u8>> = tcp6(&c, (CPORT, 21, f), sa, data, cut)
            .iter()
            .flat_map(|fr| d.ext(fr).1)
            .collect();
        out
    };
    let server = |d: &mut MemDirector, f: u8, sa: (u32, u32), data: &[u8], cut| {
        let out: Vec<Vec<u8>> = tcp6(&r, (21, CPORT, f), sa, data, cut)
            .iter()
            .flat_map(|fr| d.int(fr).0)
            .collect();
        out
    };
    client(&mut d, SYN, (C0 - 1, 0), b"", None);
    server(&mut d, SYN | ACK, (S0 - 1, C0), b"", None);
    client(&mut d, ACK, (C0, S0), b"", None);
    // PASV is IPv4's: read as nothing.
    client(&mut d, ACK | PSH, (C0, S0), b"PASV\r\n", None);
    client(&mut d, ACK | PSH, (C0 + 6, S0), b"EPSV\r\n", None);
    let reply = b"229 Entering Extended Passive Mode (|2|2001:2:0:2::2|30000|)\r\n";
    let out = server(&mut d, ACK | PSH, (S0, C0 + 12), reply, None);
    let want = b"229 Entering Extended Passive Mode (|||30000|)\r\n";
    let p = parse_ip6(&out[0]);
    assert_eq!(p.src, VIP6);
    assert_eq!(&p.l4[20..], want, "written without the address");
    assert_eq!(d.ctr(Ctr::FtpRewritten), 1);
    // The client's data connection gets in.
    let syn = tcp6(&c, (45000, 30000, SYN), (7000, 0), b"", None);
    let (_, int) = d.ext(&syn[0]);
    let p = parse_ip6(&int[0]);
    assert_eq!((p.dst, &p.l4[2..4]), (RS1_6, &30000u16.to_be_bytes()[..]));
    // The server's next segment, in two fragments: shifted back by what
    // the reply lost, its checksum right over the datagram.
    let shrunk = (reply.len() - want.len()) as u32;
    let next = S0 + reply.len() as u32;
    let text = b"150 Opening BINARY mode data connection.\r\n";
    let out = server(&mut d, ACK | PSH, (next, C0 + 12), text, Some(24));
    assert_eq!(out.len(), 2, "{:?}", drops(&d.w().core.ctr));
    let body = |f: &Vec<u8>| f[62..].to_vec();
    let whole: Vec<u8> = [body(&out[0]), body(&out[1])].concat();
    let seq = u32::from_be_bytes([whole[4], whole[5], whole[6], whole[7]]);
    assert_eq!(seq, next - shrunk);
    let mut zeroed = whole.clone();
    zeroed[16..18].fill(0);
    let sum = inmem::frames6::checksum6(VIP6, CLIENT6, 6, &zeroed);
    assert_eq!(sum.to_be_bytes(), [whole[16], whole[17]], "checksum");
    assert_eq!(&whole[20..], text);
    // EPRT naming another host is refused; the client's own is expected.
    client(
        &mut d,
        ACK | PSH,
        (C0 + 12, next),
        b"EPRT |2|2001:2:0:1::7|40100|\r\n",
        None,
    );
    assert_eq!(d.ctr(Ctr::FtpRefused), 1);
    let eprt = b"EPRT |2|2001:2:0:1::1|40100|\r\n";
    client(&mut d, ACK | PSH, (C0 + 43, next), eprt, None);
    let rs_syn = tcp6(&r, (20, 40100, SYN), (9000, 0), b"", None);
    let (ext, _) = d.int(&rs_syn[0]);
    let p = parse_ip6(&ext[0]);
    assert_eq!((p.src, &p.l4[..2]), (VIP6, &20u16.to_be_bytes()[..]));
}

/// IPv6 under sync, from the wire: a standby takes a control connection's
/// shift (here a negative one: a `229` written without its address loses
/// bytes) and the passive data connection the master's helper made, and,
/// once active, shifts the server's stream back and serves the transfer.
#[test]
fn ipv6_control_and_data_connections_come_in_sync_messages() {
    use ringvs::nat::State;
    use ringvs::sync::wire::{self, MessageBuilder, Seq, SeqOpt, SyncConn};
    let (mut d, env) = lab6();
    d.resolve6(ringvs::Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(ringvs::Nic::Int, RS1_6, RS1_MAC);
    d.shared.ha.set_standby(true);
    d.shared.bump();
    let shrunk: i32 = 15;
    let conn = |cport: u16, vport: u16, dport: u16, seq: Option<SeqOpt>| SyncConn {
        proto: 6,
        flags: wire::nat_flags(false, State::Established)
            | if seq.is_some() {
                wire::flags::OUT_SEQ
            } else {
                0
            },
        state: wire::state_to_ipvs(State::Established),
        caddr: CLIENT6,
        cport,
        vaddr: VIP6,
        vport,
        daddr: RS1_6,
        dport,
        fwmark: 0,
        timeout: 900,
        seq,
        pe: None,
    };
    let shift = SeqOpt {
        in_seq: Seq::default(),
        out_seq: Seq {
            init_seq: S0,
            delta: (-shrunk) as u32,
            previous_delta: 0,
        },
    };
    let mut buf = vec![0u8; 1472];
    let mut m = MessageBuilder::new(&mut buf, 1472, 7).expect("buffer");
    m.push(&conn(CPORT, 21, 21, Some(shift))).expect("fits");
    m.push(&conn(45000, 30000, 30000, None)).expect("fits");
    let intake = d.intake(7, &env);
    intake.message(m.as_bytes());
    d.poll();
    assert_eq!(
        d.ctr(Ctr::SyncInstalled),
        2,
        "{:?}",
        intake.counters.drops()
    );
    assert_eq!(d.ctr(Ctr::FtpSynced), 1);

    d.shared.ha.set_standby(false);
    d.shared.bump();
    let (c, r) = (l3_to_vip6(), l3_from_rs6(RS1_6, CLIENT6));
    let next = S0 + 70;
    let text = b"226 Transfer complete.\r\n";
    let out = d
        .int(&tcp6(&r, (21, CPORT, ACK | PSH), (next, C0 + 12), text, None)[0])
        .0;
    let p = parse_ip6(&out[0]);
    let seq = u32::from_be_bytes([p.l4[4], p.l4[5], p.l4[6], p.l4[7]]);
    assert_eq!(seq, next.wrapping_add_signed(-shrunk), "shifted back");
    let ack = next.wrapping_add_signed(-shrunk) + text.len() as u32;
    let int = d
        .ext(&tcp6(&c, (CPORT, 21, ACK), (C0 + 12, ack), b"", None)[0])
        .1;
    let p = parse_ip6(&int[0]);
    let got = u32::from_be_bytes([p.l4[8], p.l4[9], p.l4[10], p.l4[11]]);
    assert_eq!(
        got,
        next + text.len() as u32,
        "the server hears its own count"
    );
    // The data connection, to the control connection's server.
    let int = d
        .ext(&tcp6(&c, (45000, 30000, ACK), (7001, 9001), b"", None)[0])
        .1;
    let p = parse_ip6(&int[0]);
    assert_eq!((p.dst, &p.l4[2..4]), (RS1_6, &30000u16.to_be_bytes()[..]));
    assert_eq!(d.ctr(Ctr::DropNoConn) + d.ctr(Ctr::DropNoService), 0);
}

/// Without the helper, a persistent FTP service (port 21) takes the
/// connections of the VIP's FTP data ports (TCP to port 20, or to 1024 and
/// up, that no service has) to the control connection's server, as
/// `ip_vs_service_find` (`ip_vs_ctl.c`) finds the port-21 service for them
/// and its template (`ip_vs_sched_persist`) picks the server: the classic
/// LVS-DR FTP setup (`-A -t VIP:21 -p`, servers with `pasv_address` the
/// VIP) for passive data connections (1024 and up). The plain SYNs to port
/// 20 here only show the port is taken: an active data connection's first
/// client packet there is a SYN+ACK (the test above). A privileged port is
/// not a data port; a service of the exact port wins; a non-persistent FTP
/// service leaves them (IPVS's `ip_vs_leave` passes them to the director's
/// own stack), unanswered.
#[test]
fn a_persistent_ftp_service_takes_the_connections_of_its_data_ports() {
    let mut d = MemDirector::new(&[
        "-A -t 198.18.0.110:21 -s rr -p 360",
        "-a -t 198.18.0.110:21 -r 198.19.0.2:21 -m",
        "-a -t 198.18.0.110:21 -r 198.19.0.3:21 -m",
        "-A -t 198.18.0.110:30001 -s rr",
        "-a -t 198.18.0.110:30001 -r 198.19.0.3:30001 -m",
    ]);
    d.resolve_all();
    let to = |d: &mut MemDirector, sport, port| {
        let (ext, int) = d.ext(&tcp_frame(&L3::to_vip(), sport, port, SYN));
        assert!(ext.is_empty(), "{port}: nothing back");
        int.first().map(|f| parse_ip(f))
    };
    let control = to(&mut d, 40000, 21).expect("control connection");
    for port in [20, 1024, 50000] {
        let data = to(&mut d, 40001 + port % 10000, port).expect("data connection");
        assert_eq!((data.dst, data.dport), (control.dst, port), "{port}");
    }
    assert!(to(&mut d, 40100, 1023).is_none(), "a privileged port");
    assert_eq!(d.ctr(Ctr::DropNoService), 1);
    let exact = to(&mut d, 40101, 30001).expect("its own service");
    assert_eq!(exact.dst, RS2);
    // Not persistent: not taken.
    let mut d = MemDirector::new(&[
        "-A -t 198.18.0.110:21 -s rr",
        "-a -t 198.18.0.110:21 -r 198.19.0.2:21 -m",
    ]);
    d.resolve_all();
    assert!(to(&mut d, 40000, 21).is_some());
    assert!(to(&mut d, 40001, 50000).is_none());
    assert_eq!(d.ctr(Ctr::DropNoService), 1);
    assert_eq!(d.ctr(Ctr::IcmpPortUnreach), 0);
}

/// Active FTP through a persistent DR service (`-A -t VIP:21 -p`, servers
/// `-g`): the server's SYN from its port 20 goes to the client directly, and
/// the director first sees the data connection as the client's SYN+ACK from
/// its `PORT` port to VIP:20. As the kernel's `tcp_conn_schedule`
/// (`ip_vs_proto_tcp.c`) schedules any SYN without RST and the template
/// (`ip_vs_sched_persist`, `ip_vs_core.c`) picks the server, it goes to the
/// control connection's server, unchanged. So too in a persistent port-0
/// service and in a persistent mark on ports 20 and 21. ringvs refused any
/// SYN with ACK (`drop_no_conn`). A service without persistence still
/// refuses one, on purpose (`state::opens`).
#[test]
fn a_persistent_dr_service_takes_the_clients_syn_ack_of_an_active_data_connection() {
    let port21: &[&str] = &[
        "-A -t 198.18.0.110:21 -s rr -p 360",
        "-a -t 198.18.0.110:21 -r 198.19.0.2 -g",
        "-a -t 198.18.0.110:21 -r 198.19.0.3 -g",
    ];
    let port0: &[&str] = &[
        "-A -t 198.18.0.110:0 -s rr -p 360",
        "-a -t 198.18.0.110:0 -r 198.19.0.2 -g",
        "-a -t 198.18.0.110:0 -r 198.19.0.3 -g",
    ];
    let mark: &[&str] = &[
        "-A -f 1 -s rr -p 360 --mark-dest tcp:198.18.0.110:20,21",
        "-a -f 1 -r 198.19.0.2 -g",
        "-a -f 1 -r 198.19.0.3 -g",
    ];
    for rules in [port21, port0, mark] {
        let mut d = MemDirector::new(rules);
        d.resolve_all();
        let (ext, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 21, SYN));
        assert!(ext.is_empty() && int.len() == 1, "{rules:?}: control");
        let server = <[u8; 6]>::try_from(&int[0][..6]).expect("mac");
        assert!([RS1_MAC, RS2_MAC].contains(&server));
        // The client's answer to the server's SYN from port 20.
        let synack = tcp_seg(&L3::to_vip(), 40064, 20, SYN | ACK, 7000, 9001, b"");
        let (ext, int) = d.ext(&synack);
        assert!(ext.is_empty(), "{rules:?}");
        assert_eq!(int.len(), 1, "{rules:?}: {:?}", drops(&d.w().core.ctr));
        assert_eq!(&int[0][..6], &server, "{rules:?}: the control's server");
        let p = parse_ip(&int[0]);
        assert_eq!((p.src, p.sport, p.dst, p.dport), (CLIENT, 40064, VIP, 20));
        assert_eq!(d.ctr(Ctr::DropNoConn), 0, "{rules:?}");
    }
    // No persistence: a SYN+ACK opens nothing.
    let mut d = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2 -g",
    ]);
    d.resolve_all();
    let (ext, int) = d.ext(&tcp_frame(&L3::to_vip(), 40064, 80, SYN | ACK));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(d.ctr(Ctr::DropNoConn), 1);
}

/// A client packet from port 20 is never scheduled, TCP or UDP, persistent
/// or not (`ip_vs_schedule`: "Not scheduling FTPDATA"): nothing goes out,
/// nothing is tracked, no port unreachable; port 21 or 19 is scheduled.
#[test]
fn a_client_from_the_ftp_data_port_is_not_scheduled() {
    let mut d = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-A -t 198.18.0.110:21 -s rr -p 360",
        "-a -t 198.18.0.110:21 -r 198.19.0.2:21 -m",
        "-A -u 198.18.0.110:53 -s rr",
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
    ]);
    d.resolve_all();
    for (frame, what) in [
        (tcp_frame(&L3::to_vip(), 20, 80, SYN), "TCP to :80"),
        (
            tcp_frame(&L3::to_vip(), 20, 21, SYN),
            "TCP to the persistent :21",
        ),
        (udp_frame(&L3::to_vip(), 20, 53, b"q", true), "UDP to :53"),
    ] {
        let (ext, int) = d.ext(&frame);
        assert!(ext.is_empty() && int.is_empty(), "{what}: not answered");
    }
    assert_eq!(d.ctr(Ctr::DropNoService), 3);
    assert_eq!(d.ctr(Ctr::IcmpPortUnreach), 0);
    assert_eq!(d.ctr(Ctr::ConnNew), 0);
    for sport in [19, 21] {
        let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), sport, 80, SYN));
        assert_eq!(int.len(), 1, "from port {sport}: scheduled");
    }
    assert_eq!(d.ctr(Ctr::ConnNew), 2);
}

/// An IPv6 segment behind an atomic fragment header (offset 0, M clear,
/// RFC 6946): a whole packet, which the helper reads as one.
fn atomic6(l: &inmem::frames6::L3, ports: (u16, u16, u8), sa: (u32, u32), data: &[u8]) -> Vec<u8> {
    use inmem::frames6::{Ext, TCP, frame, tcp_l4};
    let t = tcp_l4(l, ports, sa, data);
    let ext = Ext::Fragment {
        offset: 0,
        more: false,
        id: 0x78,
    };
    frame(l, &[ext], TCP, &t)
}

#[test]
fn an_ipv6_atomic_fragment_on_a_control_connection_is_read_as_a_whole_packet() {
    let (mut d, _) = lab6();
    d.resolve6(ringvs::Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(ringvs::Nic::Int, RS1_6, RS1_MAC);
    let (c, r) = (l3_to_vip6(), l3_from_rs6(RS1_6, CLIENT6));
    for f in tcp6(&c, (CPORT, 21, SYN), (C0 - 1, 0), b"", None) {
        d.ext(&f);
    }
    for f in tcp6(&r, (21, CPORT, SYN | ACK), (S0 - 1, C0), b"", None) {
        d.int(&f);
    }
    for f in tcp6(&c, (CPORT, 21, ACK), (C0, S0), b"", None) {
        d.ext(&f);
    }
    // The client's EPSV and the server's reply, each an atomic fragment.
    let (_, int) = d.ext(&atomic6(&c, (CPORT, 21, ACK | PSH), (C0, S0), b"EPSV\r\n"));
    assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let reply = b"229 Entering Extended Passive Mode (|2|2001:2:0:2::2|30000|)\r\n";
    let (out, _) = d.int(&atomic6(&r, (21, CPORT, ACK | PSH), (S0, C0 + 6), reply));
    assert_eq!(out.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let want = b"229 Entering Extended Passive Mode (|||30000|)\r\n";
    let f = &out[0];
    // Ethernet, IPv6, the fragment header kept, then TCP.
    assert_eq!(f[14 + 6], 44, "the fragment header stays");
    let plen = usize::from(u16::from_be_bytes([f[18], f[19]]));
    assert_eq!(plen + 54, f.len(), "the payload length follows the text");
    let tcp = &f[62..];
    assert_eq!(&tcp[20..], want, "written without the address");
    let mut zeroed = tcp.to_vec();
    zeroed[16..18].fill(0);
    let sum = inmem::frames6::checksum6(VIP6, CLIENT6, 6, &zeroed);
    assert_eq!(sum.to_be_bytes(), [tcp[16], tcp[17]], "checksum");
    assert_eq!(d.ctr(Ctr::FtpRewritten), 1);
    // The data connection the reply announced gets in.
    let syn = tcp6(&c, (45000, 30000, SYN), (7000, 0), b"", None);
    let (_, int) = d.ext(&syn[0]);
    assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let p = parse_ip6(&int[0]);
    assert_eq!((p.dst, &p.l4[2..4]), (RS1_6, &30000u16.to_be_bytes()[..]));
}

/// Data connections bind to their real server without a pick, and IPVS
/// checks the overload at each bind (`ip_vs_bind_dest`, `ip_vs_conn.c`):
/// RS1 (`-x 4`) with a control connection and three active data
/// connections is overloaded from the third one's bind; one ending (3, not
/// below 3/4 of 4, `ip_vs_unbind_dest`) leaves it so, and a new control
/// connection is refused. Checked only at picks, the last pick saw 0 and
/// the next saw 3: available.
#[test]
fn data_connections_that_reach_the_threshold_overload_the_server() {
    use std::time::Duration;
    let rules = [RULES[0], "-a -t 198.18.0.110:21 -r 198.19.0.2:21 -m -x 4"];
    let mut d = MemDirector::with_env(1, &rules, ftp_env(&[21]), 1024);
    d.resolve_all();
    control(&mut d);
    let id = d.dest_id(ringvs::config::Proto::Tcp, 21, RS1, 21);
    // Active + inactive (a data connection the server opened is inactive
    // until established).
    let rs1 = |d: &MemDirector| {
        let (a, i) = d.published[0].gauges.get(id);
        a + i
    };
    let from_rs = L3::from_rs(RS1, CLIENT);
    let mut seq = C0;
    for port in [41000u16, 41001, 41002] {
        let cmd = format!("PORT 198,18,0,1,{},{}\r\n", port >> 8, port & 0xff);
        client(&mut d, ACK | PSH, seq, S0, cmd.as_bytes());
        seq += cmd.len() as u32;
        let syn = tcp_seg(&from_rs, 20, port, SYN, 9000, 0, b"");
        assert_eq!(d.int(&syn).0.len(), 1, "data connection {port}");
    }
    assert_eq!(d.ctr(Ctr::FtpData), 3);
    assert_eq!(rs1(&d), 4);
    // The last data connection reset and gone (CLOSE, 10 s): 3.
    let rst = tcp_seg(&from_rs, 20, 41002, RST, 9001, 0, b"");
    assert_eq!(d.int(&rst).0.len(), 1);
    d.advance(Duration::from_secs(11));
    d.poll();
    assert_eq!(rs1(&d), 3);
    let (ext, int) = d.ext(&tcp_seg(&L3::to_vip(), CPORT + 1, 21, SYN, 1, 0, b""));
    assert!(int.is_empty(), "overloaded: not forwarded");
    assert_eq!(ext.len(), 1, "the client told (port unreachable)");
    assert_eq!(d.ctr(Ctr::DropNoDest), 1);
}

/// `--expire-nodest-conn`'s flush of a removed server
/// (`ip_vs_expire_nodest_conn_flush`, `ip_vs_conn.c`, queued by
/// `__ip_vs_del_dest`) passes over a connection that controls others
/// (`n_control` not 0), but deletes a data connection's controller once it
/// counts none after that data connection went: the FTP control
/// connection, met with its data connection still there, goes in the
/// walk's next round, after the data connection. Before, it stayed until
/// a packet of it or its timeout.
#[test]
fn the_nodest_flush_drops_a_control_connection_after_its_data_connections() {
    use ringvs::config::{Proto, ServiceKey};
    let mut d = nodest_pasv();
    data_syn(&mut d, 45000, 30000).expect("let in");
    assert_eq!(d.w().core.table.len(), 2);
    let ftp = ServiceKey::new(Proto::Tcp, VIP, 21);
    d.cfg.del_dest(&ftp, RS1, 21).expect("configured");
    d.publish_with(|_| {});
    for _ in 0..4 {
        d.poll();
    }
    let l = d.conns(0);
    assert!(l.is_empty(), "{l:?}");
    assert_eq!(d.published_ctr(Ctr::ConnExpired), 2);
}
