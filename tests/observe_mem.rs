//! Capture and trace on the in-memory backend: a reader that never reads costs
//! frames to the capture, never to the data path, and detaching really detaches.

mod inmem;

use inmem::*;
use ringvs::observe::filter::Filter;
use ringvs::observe::{Capture, Point, Trace, points};
use ringvs::stats::Ctr;
use ringvs::{Nic, nat::State};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const SLOTS: usize = 8;

#[test]
fn a_stuck_reader_drops_capture_frames_but_every_packet_is_forwarded() {
    let mut lab = MemDirector::standard();
    let cap = Arc::new(Capture::new(
        Filter::parse("tcp").expect("filter"),
        points("both", "both").expect("points"),
        SLOTS,
    ));
    lab.shared
        .tap
        .attach(Some(Arc::clone(&cap)), None)
        .expect("attach");
    lab.shared.bump();
    lab.poll();
    for i in 0..100u16 {
        let syn = tcp_seg(&L3::to_vip(), 40000 + i, 80, SYN, 1, 0, &[]);
        let (ext, int) = lab.ext(&syn);
        assert!(ext.is_empty());
        assert_eq!(int.len(), 1, "SYN {i} not forwarded");
    }
    assert_eq!(lab.ctr(Ctr::FwdIn), 100);
    // The reader took nothing: the first SLOTS frames (SYN 0 as received, SYN 0
    // after NAT, ...) are kept, the other 192 are dropped and counted.
    assert_eq!(lab.ctr(Ctr::CaptureDropped), 200 - SLOTS as u64);
    assert_eq!(cap.dropped.load(Ordering::Relaxed), 200 - SLOTS as u64);
    let got: Vec<_> = cap.full_rx.try_iter().collect();
    assert_eq!(got.len(), SLOTS);
    let ext_rx = Point {
        nic: Nic::Ext,
        tx: false,
    };
    let int_tx = Point {
        nic: Nic::Int,
        tx: true,
    };
    for (k, f) in got.iter().enumerate() {
        let want = if k % 2 == 0 { ext_rx } else { int_tx };
        assert_eq!(Point::from_code(f.point), want, "frame {k}");
        let s = ringvs::observe::filter::summarize(&f.data[..usize::from(f.len)]);
        assert_eq!(s.ports, Some((40000 + (k / 2) as u16, 80)));
        let dst = if want.tx { be(RS1) } else { be(VIP) };
        assert!(s.dst == dst || want.tx, "frame {k}: {s:?}");
    }
    for b in got {
        let _ = cap.free_tx.try_send(b);
    }

    // Detached: nothing more is taken or counted.
    lab.shared.tap.detach(Some(&cap), None);
    lab.shared.bump();
    lab.poll();
    let syn = tcp_seg(&L3::to_vip(), 41000, 80, SYN, 1, 0, &[]);
    assert_eq!(lab.ext(&syn).1.len(), 1);
    assert!(cap.full_rx.try_recv().is_err());
    assert_eq!(lab.ctr(Ctr::CaptureDropped), 200 - SLOTS as u64);
}

/// A frame a worker sends outside its handling of a received one is
/// captured too: the host unreachable a client is told once its SYN waited
/// `PENDING_MAX_AGE` for a real server that never answered ARP (sent from
/// `expire_pending`, once a pass), as tcpdump sees every frame sent.
#[test]
fn a_capture_sees_the_host_unreachable_sent_for_a_frame_that_waited_too_long() {
    let mut lab = MemDirector::new(STANDARD);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    let cap = Arc::new(Capture::new(
        Filter::parse("icmp").expect("filter"),
        points("both", "both").expect("points"),
        SLOTS,
    ));
    lab.shared
        .tap
        .attach(Some(Arc::clone(&cap)), None)
        .expect("attach");
    lab.shared.bump();
    lab.poll();
    let syn = tcp_frame(&L3::to_vip(), 40000, 80, SYN);
    let (ext, int) = lab.ext(&syn);
    assert!(ext.is_empty() && int.is_empty(), "parked for ARP");
    lab.advance(ringvs::dataplane::tx::PENDING_MAX_AGE + std::time::Duration::from_millis(100));
    let (ext, _) = lab.poll_take();
    assert_eq!(lab.ctr(Ctr::IcmpHostUnreach), 1);
    assert_eq!(ext.len(), 1);
    let got: Vec<_> = cap.full_rx.try_iter().collect();
    assert_eq!(got.len(), 1, "the error sent is captured");
    let f = &got[0];
    assert_eq!(
        Point::from_code(f.point),
        Point {
            nic: Nic::Ext,
            tx: true
        }
    );
    assert_eq!(&f.data[..usize::from(f.len)], &ext[0][..]);
    assert_eq!(lab.ctr(Ctr::CaptureDropped), 0);
}

/// A trace of `filter` (`slots` records) attached to `lab`'s workers.
fn trace(lab: &mut MemDirector, filter: &str, slots: usize) -> Arc<Trace> {
    let tr = Arc::new(Trace::new(Filter::parse(filter).expect("filter"), slots));
    lab.shared
        .tap
        .attach(None, Some(Arc::clone(&tr)))
        .expect("attach");
    lab.shared.bump();
    lab.poll();
    tr
}

#[test]
fn trace_records_say_what_happened_and_a_full_queue_only_loses_records() {
    let mut lab = MemDirector::standard();
    let tr = trace(&mut lab, "tcp and dst 198.18.0.110", 4);
    for i in 0..6u16 {
        let syn = tcp_seg(&L3::to_vip(), 40000 + i, 80, SYN, 1, 0, &[]);
        assert_eq!(lab.ext(&syn).1.len(), 1);
    }
    // A port without a service.
    let syn = tcp_seg(&L3::to_vip(), 40000, 81, SYN, 1, 0, &[]);
    assert!(lab.ext(&syn).1.is_empty());
    let recs: Vec<_> = tr.rx.try_iter().collect();
    assert_eq!(recs.len(), 4);
    assert_eq!(tr.dropped.load(Ordering::Relaxed), 3);
    // Counted as the trace's, not as a capture's.
    assert_eq!(lab.ctr(Ctr::TraceDropped), 3);
    assert_eq!(lab.ctr(Ctr::CaptureDropped), 0);
    let r = &recs[0];
    assert_eq!((r.nic, r.handed), (0, false));
    assert_eq!(r.sum.ports, Some((40000, 80)));
    assert!(r.before.is_none());
    let after = r.after.expect("connection created");
    assert_eq!(after.state, State::SynRecv);
    assert_eq!(after.rip.0, RS1);
    assert_ne!(r.moved & (1 << Ctr::ConnNew as usize), 0);
    assert_ne!(r.moved & (1 << Ctr::FwdIn as usize), 0);
    assert_eq!(r.moved & (1 << Ctr::DropNoService as usize), 0);
    let tx = r.tx[0].expect("sent on int");
    assert_eq!((tx.nic, tx.dst_mac, tx.sum.dst), (1, RS1_MAC, be(RS1)));
    assert!(r.tx[1].is_none());
    // The formatted lines carry the same facts.
    let lines = ringvs::observe::stream::format_trace(1, r, &|_, _, _| Some("rr"));
    assert_eq!(lines[1], "#1 service tcp 198.18.0.110:80 sched rr");
    assert!(lines[2].starts_with("#1 conn created, scheduled by rr to 198.19.0.2:"));
    assert_eq!(lines[3], "#1 state NONE -> SYN_RECV");
}

/// The dual-stack director: the IPv4 and the IPv6 standard rules, every
/// neighbor resolved.
fn dual_stack() -> MemDirector {
    let rules: Vec<&str> = STANDARD.iter().chain(STANDARD6).copied().collect();
    let mut lab = MemDirector::dual_stack(&rules);
    lab.resolve_all();
    lab.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    lab.resolve6(Nic::Int, RS1_6, RS1_MAC);
    lab.resolve6(Nic::Int, RS2_6, RS2_MAC);
    lab
}

#[test]
fn an_ipv6_trace_shows_the_connection_before_and_after_and_the_rewritten_frame() {
    use std::net::IpAddr;
    let mut lab = dual_stack();
    let tr = trace(&mut lab, "ip6 and host 2001:2:0:1::1", 16);
    // IPv4 from the same client is not traced.
    let syn4 = tcp_seg(&L3::to_vip(), 40000, 80, SYN, 1, 0, &[]);
    assert_eq!(lab.ext(&syn4).1.len(), 1);
    let syn = frames6::tcp(&l3_to_vip6(), &[], 40000, 80, SYN, &[]);
    let (_, int) = lab.ext(&syn);
    assert_eq!(int.len(), 1);
    let rs = parse_ip6(&int[0]).dst;
    let back = frames6::tcp(&l3_from_rs6(rs, CLIENT6), &[], 80, 40000, SYN | ACK, &[]);
    assert_eq!(lab.int(&back).0.len(), 1);
    let recs: Vec<_> = tr.rx.try_iter().collect();
    assert_eq!(recs.len(), 2, "the two IPv6 packets, not the IPv4 one");

    let r = &recs[0];
    assert!(r.sum.ip6);
    assert!(r.before.is_none());
    let after = r.after.expect("connection created in the IPv6 table");
    assert_eq!(after.state, State::SynRecv);
    assert_eq!(after.client, (IpAddr::V6(CLIENT6), 40000));
    assert_eq!(after.vip, (IpAddr::V6(VIP6), 80));
    assert_eq!(after.rip, (IpAddr::V6(rs), 80));
    let tx = r.tx[0].expect("sent on int");
    assert_eq!((tx.nic, tx.dst_mac), (1, RS1_MAC));
    assert_eq!(
        (tx.sum.src6, tx.sum.dst6),
        (CLIENT6.to_bits(), rs.to_bits())
    );
    assert_eq!(rs, RS1_6, "rr starts with the first server");
    let lines = ringvs::observe::stream::format_trace(1, r, &|p, vip, port| {
        (p == 6 && vip == IpAddr::V6(VIP6) && port == 80).then_some("rr")
    });
    assert_eq!(
        lines[..7],
        [
            "#1 rx worker 0 nic ext IP6 2001:2:0:1::1.40000 > 2001:2:0:1::110.80: Flags [S], length 0 len 74",
            "#1 service tcp [2001:2:0:1::110]:80 sched rr",
            "#1 conn created, scheduled by rr to [2001:2:0:2::2]:80 (client [2001:2:0:1::1]:40000)",
            "#1 state NONE -> SYN_RECV",
            "#1 rewrite IP6 2001:2:0:1::1.40000 > 2001:2:0:1::110.80: Flags [S], length 0 => tcp [2001:2:0:1::1]:40000 > [2001:2:0:2::2]:80",
            "#1 neighbor int 2001:2:0:2::2 at 02:55:00:00:00:02",
            "#1 tx nic int IP6 2001:2:0:1::1.40000 > 2001:2:0:2::2.80: Flags [S], length 0",
        ]
    );

    // The reply finds the connection (before and after) and leaves from the VIP.
    let r = &recs[1];
    assert_eq!(r.before.map(|b| b.state), Some(State::SynRecv));
    assert_eq!(r.after.map(|a| a.rip), Some((IpAddr::V6(RS1_6), 80)));
    let tx = r.tx[0].expect("sent on ext");
    assert_eq!((tx.nic, tx.dst_mac), (0, CLIENT_MAC));
    assert_eq!(
        (tx.sum.src6, tx.sum.dst6),
        (VIP6.to_bits(), CLIENT6.to_bits())
    );
    let lines = ringvs::observe::stream::format_trace(2, r, &|_, _, _| Some("rr"));
    assert!(
        lines.contains(&"#2 rewrite IP6 2001:2:0:2::2.80 > 2001:2:0:1::1.40000: Flags [S.], length 0 => tcp [2001:2:0:1::110]:80 > [2001:2:0:1::1]:40000".to_string()),
        "{lines:#?}"
    );
    assert!(lines.contains(&"#2 neighbor ext 2001:2:0:1::1 at 02:cc:00:00:00:01".to_string()));
}

#[test]
fn an_ip6_capture_writes_the_ipv6_frames_both_sides_of_nat_to_pcap() {
    let mut lab = dual_stack();
    let cap = Arc::new(Capture::new(
        Filter::parse("ip6").expect("filter"),
        points("both", "both").expect("points"),
        SLOTS,
    ));
    lab.shared
        .tap
        .attach(Some(Arc::clone(&cap)), None)
        .expect("attach");
    lab.shared.bump();
    lab.poll();
    let syn4 = tcp_seg(&L3::to_vip(), 40000, 80, SYN, 1, 0, &[]);
    assert_eq!(lab.ext(&syn4).1.len(), 1);
    let syn = frames6::tcp(&l3_to_vip6(), &[], 40000, 80, SYN, &[]);
    let (_, int) = lab.ext(&syn);
    assert_eq!(int.len(), 1);
    // What `ringvs capture` writes for the frames the workers took.
    let mut pcap = Vec::new();
    ringvs::observe::pcap::write_header(&mut pcap).expect("header");
    for f in cap.full_rx.try_iter() {
        let data = &f.data[..usize::from(f.len)];
        ringvs::observe::pcap::write_record(&mut pcap, f.ts_ns, data, f.orig_len).expect("record");
    }
    let recs = ringvs::observe::pcap::read_all(&mut &pcap[..]).expect("pcap parses");
    let frames: Vec<_> = recs.iter().map(|r| r.data.clone()).collect();
    assert_eq!(
        frames,
        [syn, int[0].clone()],
        "the IPv6 SYN as received and as sent"
    );
    assert_eq!(lab.ctr(Ctr::CaptureDropped), 0);
}

/// The worker publishes its IPv6 table's size beside the connections by state
/// (both families), which `ringvs stats` and `--metrics` split by family.
#[test]
fn the_worker_publishes_its_ipv6_connections_apart() {
    let mut lab = dual_stack();
    let syn4 = tcp_seg(&L3::to_vip(), 40000, 80, SYN, 1, 0, &[]);
    assert_eq!(lab.ext(&syn4).1.len(), 1);
    for sport in [40000, 40001] {
        let syn = frames6::tcp(&l3_to_vip6(), &[], sport, 80, SYN, &[]);
        assert_eq!(lab.ext(&syn).1.len(), 1);
    }
    lab.poll();
    let p = &lab.published[0];
    let all: u64 = p.states.iter().map(|s| s.load(Ordering::Relaxed)).sum();
    assert_eq!((all, p.counters.conns6()), (3, 2));
    assert_eq!(lab.published_ctr(Ctr::ConnNew6), 2);
}

/// DR and TUN rewrite nothing: the trace says where the packet went and how
/// (`direct route` or `direct tunnel`), not a NAT rewrite it did not make;
/// a client-side ICMP error about the connection goes the same way.
#[test]
fn a_trace_of_dr_and_tun_says_direct_not_rewrite() {
    use ringvs::config::{Forward, TunCsum, TunKind, Tunnel};
    let tun = Forward::Tunnel(Tunnel {
        kind: TunKind::Gue,
        port: 6080,
        csum: TunCsum::NoCsum,
    });
    for (fwd, want) in [
        (
            Forward::Route,
            "#1 direct route to 198.19.0.2:80, not rewritten",
        ),
        (tun, "#1 direct tunnel gue to 198.19.0.2, encapsulated"),
    ] {
        let mut lab = MemDirector::standard();
        lab.forward_all(fwd);
        let tr = trace(&mut lab, "host 198.18.0.1", 8);
        let syn = tcp_seg(&L3::to_vip(), 40000, 80, SYN, 1, 0, &[]);
        assert_eq!(lab.ext(&syn).1.len(), 1);
        let reply = tcp_seg(&L3::vip_to_client(), 80, 40000, ACK, 1, 2, &[]);
        let err = icmp_error(&L3::to_vip(), 3, 4, [0, 0, 5, 0x78], &reply, 8);
        assert_eq!(lab.ext(&err).1.len(), 1);
        let recs: Vec<_> = tr.rx.try_iter().collect();
        assert_eq!(recs.len(), 2, "{fwd:?}");
        assert_eq!(recs[0].after.map(|c| c.forward), Some(fwd));
        let lines = ringvs::observe::stream::format_trace(1, &recs[0], &|_, _, _| Some("rr"));
        assert!(lines.contains(&want.to_string()), "{fwd:?}: {lines:#?}");
        assert!(
            !lines.iter().any(|l| l.contains(" rewrite ")),
            "{fwd:?}: {lines:#?}"
        );
        // The error names no connection of its own (the trace looks up the
        // frame's tuple): what it moved says where it went.
        let lines = ringvs::observe::stream::format_trace(1, &recs[1], &|_, _, _| Some("rr"));
        assert!(
            lines.iter().any(|l| l.starts_with("#1 tx nic int ")),
            "{fwd:?}: {lines:#?}"
        );
        assert!(
            lines
                .last()
                .is_some_and(|l| l.contains("icmp_error_direct")),
            "{fwd:?}: {lines:#?}"
        );
    }
}

/// A capture is answered once every worker has loaded the tap: the epoch a
/// bump makes is "loaded" only after each worker's next pass
/// (`Shared::loaded`, which `ringvs capture`'s "listening on" waits for).
#[test]
fn the_director_knows_when_every_worker_has_taken_a_new_tap() {
    let mut lab = MemDirector::with_env(2, STANDARD, env(), 1024);
    lab.poll();
    let e = lab.shared.bump();
    assert!(!lab.shared.loaded(e), "no worker has run since");
    lab.workers[0].poll_once(lab.now);
    assert!(!lab.shared.loaded(e), "worker 1 has not run since");
    lab.workers[1].poll_once(lab.now);
    assert!(lab.shared.loaded(e), "both have");
}

/// A director's tap slot alone, for the control side of a stream.
#[derive(Default)]
struct Host {
    slot: ringvs::observe::TapSlot,
    stop: std::sync::atomic::AtomicBool,
}

impl ringvs::observe::stream::TapHost for Host {
    fn tap(&self) -> &ringvs::observe::TapSlot {
        &self.slot
    }
    fn republish(&self) -> u64 {
        0
    }
    fn loaded(&self, _: u64) -> bool {
        true
    }
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    fn load_wait(&self) -> Duration {
        PATIENT
    }
    fn handoff_wait(&self) -> Duration {
        PATIENT
    }
}

/// The waits a test's host gives the director: longer than any stall of
/// a test's threads, so that the outcome never hangs on their scheduling.
const PATIENT: Duration = Duration::from_secs(30);
/// How long a test waits for the director to do what it must.
const BOUND: Duration = Duration::from_secs(10);

/// Wait (at most [`BOUND`]) until the director took every record queued.
fn until_taken(tr: &Trace) {
    let t = std::time::Instant::now();
    while !tr.rx.is_empty() {
        assert!(t.elapsed() < BOUND, "{} records not taken", tr.rx.len());
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A director (`Shared`) whose trace waits [`PATIENT`] for the other
/// record of a packet handed off.
struct Patient(Arc<ringvs::dataplane::Shared>);

impl ringvs::observe::stream::TapHost for Patient {
    fn tap(&self) -> &ringvs::observe::TapSlot {
        self.0.tap()
    }
    fn republish(&self) -> u64 {
        self.0.republish()
    }
    fn loaded(&self, e: u64) -> bool {
        self.0.loaded(e)
    }
    fn stopping(&self) -> bool {
        self.0.stopping()
    }
    fn handoff_wait(&self) -> Duration {
        PATIENT
    }
}

/// The trace `serve_trace` serves `lab`'s workers with filter `tcp` and
/// count 1 (waiting [`PATIENT`] for a handed-off packet's other record),
/// once the workers took it: the serving thread and the client's side,
/// its answer read.
fn steered_trace(
    lab: &mut MemDirector,
) -> (
    std::thread::JoinHandle<()>,
    std::io::BufReader<std::os::unix::net::UnixStream>,
) {
    use std::io::BufRead;
    let shared = Arc::clone(&lab.shared);
    let (director, client) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let served = std::thread::spawn(move || {
        ringvs::observe::stream::serve_trace(&Patient(shared), &director, "tcp", 1, &|_, _, _| {
            Some("rr")
        })
    });
    // The workers take the tap at their next pass; the answer follows.
    while lab.shared.tap.current().is_none() {
        std::thread::yield_now();
    }
    lab.poll();
    let mut r = std::io::BufReader::new(client);
    let mut answer = String::new();
    r.read_line(&mut answer).expect("response");
    assert!(answer.contains("\"code\":0"), "{answer}");
    (served, r)
}

/// [`until_taken`] of the trace attached to `lab`.
fn until_trace_taken(lab: &MemDirector) {
    until_taken(
        &lab.shared
            .tap
            .current()
            .and_then(|t| t.trace.clone())
            .expect("trace"),
    );
}

/// A trace stream read to its end: its record lines, and the end message,
/// parsed. Any other message fails the test.
fn trace_to_end(r: &mut impl std::io::Read) -> (Vec<String>, serde_json::Value) {
    let mut lines = Vec::new();
    loop {
        let (ty, m) = ringvs::observe::stream::read_msg(r)
            .expect("read")
            .expect("a message");
        let m = String::from_utf8(m).expect("utf-8");
        match ty {
            b'T' => lines.push(m),
            b'E' => return (lines, serde_json::from_str(&m).expect("json")),
            t => panic!("message {t}"),
        }
    }
}

/// A stream read to its end message, parsed, passing over what comes
/// before it.
fn end_of(r: &mut impl std::io::Read) -> serde_json::Value {
    loop {
        let (ty, m) = ringvs::observe::stream::read_msg(r)
            .expect("read")
            .expect("a message");
        if ty == b'E' {
            return serde_json::from_str(&String::from_utf8(m).expect("utf-8")).expect("json");
        }
    }
}

/// A frame of 1000 bytes whose byte 100 is `mark`.
fn marked(mark: u8) -> Vec<u8> {
    let mut f = vec![0u8; 1000];
    f[100] = mark;
    f
}

/// A reader that stalls (tcpdump suspended, a full disk) does not end its
/// capture, as it would not end tcpdump's: past the stall the workers drop
/// and count, and once the reader reads again the session goes on. It ends
/// when the reader goes (here after 11 s, longer than the write timeout
/// that used to end it with an end message that looked like `-c`'s).
#[test]
fn a_stalled_reader_keeps_its_capture_until_it_goes() {
    use ringvs::observe::stream::{read_msg, serve_capture};
    use std::io::BufRead;
    let host = Arc::new(Host::default());
    let (director, client) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let h = Arc::clone(&host);
    let served = std::thread::spawn(move || serve_capture(&*h, &director, "both", "both", "", 0));
    let mut r = std::io::BufReader::new(client);
    let mut answer = String::new();
    r.read_line(&mut answer).expect("response");
    assert!(answer.contains("\"code\":0"), "{answer}");
    let cap = host.slot.current().and_then(|t| t.capture.clone());
    let cap = cap.expect("attached");
    let p = Point {
        nic: Nic::Ext,
        tx: false,
    };
    // More than the socket, the director's buffer and the pool hold.
    let mut taken = 0u64;
    for _ in 0..4000 {
        taken += u64::from(cap.offer(0, p, &marked(1), 1000));
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    assert!(cap.dropped.load(Ordering::Relaxed) > 0, "nothing dropped");
    std::thread::sleep(std::time::Duration::from_secs(11));
    let still = host.slot.current().and_then(|t| t.capture.clone());
    assert!(still.is_some(), "the director gave up on a slow reader");
    assert!(!served.is_finished());
    // The reader reads again: everything taken arrives, whole, then what
    // comes next.
    let mut got = 0u64;
    while got < taken {
        let (ty, m) = read_msg(&mut r).expect("read").expect("a message");
        assert_eq!(ty, b'F', "ended: {}", String::from_utf8_lossy(&m));
        assert_eq!((m.len(), m[15 + 100]), (15 + 1000, 1));
        got += 1;
    }
    assert!(cap.offer(0, p, &marked(2), 1000));
    let (ty, m) = read_msg(&mut r).expect("read").expect("a message");
    assert_eq!((ty, m[15 + 100]), (b'F', 2));
    // The reader goes: the director detaches.
    drop(r);
    served.join().expect("served");
    assert!(host.slot.current().is_none());
}

/// `trace -c 1` counts packets, not records: a SYN that reaches the worker
/// not owning its client's key gives a record there (`handoff_out`) and one
/// on its owner (the connection created). The first counts the packet and
/// the session waits for the second: both are written, and the end message
/// counts one packet. A packet handled by one worker alone (R) whose record
/// comes between the two is past the count: not shown, not counted.
#[test]
fn a_trace_count_counts_a_handed_off_packet_once_and_waits_for_its_owner() {
    // Steered as `--io xdp --steer hash` is: each worker takes every frame
    // its queue receives and hands it to the owner of its client key.
    let umem = ringvs::io::mem::MemUmem::new();
    let mut lab = MemDirector::steered_on(2, &umem);
    lab.resolve_all();
    let cport = (40000u16..)
        .find(|&p| ringvs::io::fanout::owner(be(CLIENT), p, 2, 0) == 1)
        .expect("a port owned by worker 1");
    let local = (41000u16..)
        .find(|&p| ringvs::io::fanout::owner(be(CLIENT), p, 2, 0) == 0)
        .expect("a port owned by worker 0");
    let (served, mut r) = steered_trace(&mut lab);
    let now = lab.now;
    // Padded to Ethernet's 60 bytes, as it comes on the wire: the worker
    // hands on the 54 of the IP packet, the same packet.
    let mut syn = tcp_frame(&L3::to_vip(), cport, 80, SYN);
    syn.resize(60, 0);
    lab.workers[0].rx[Nic::Ext].push(&syn);
    lab.workers[0].poll_once(now);
    assert_eq!(lab.workers[0].core.ctr.get(Ctr::HandoffOut), 1);
    lab.workers[0].rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), local, 80, SYN));
    lab.workers[0].poll_once(now);
    assert_eq!(lab.workers[0].tx[Nic::Int].take_sent().len(), 1);
    until_trace_taken(&lab);
    assert!(!served.is_finished(), "ended before the owner's record");
    lab.workers[1].poll_once(now);
    assert_eq!(lab.workers[1].tx[Nic::Int].take_sent().len(), 1);
    let (lines, v) = trace_to_end(&mut r);
    served.join().expect("served");
    assert_eq!(
        (v["packets"].as_u64(), v["end"].as_str()),
        (Some(1), Some("count"))
    );
    assert!(
        lines[0].starts_with("#1 rx worker 0 nic ext") && !lines[0].contains("handed off"),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("#1 counted") && l.contains("handoff_out"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("#2 rx worker 1 nic ext (handed off)")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("#2 conn created, scheduled by rr to")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| (l.starts_with("#1 ") || l.starts_with("#2 "))
                && !l.contains(&format!(":{local} "))),
        "{lines:#?}"
    );
}

/// Once `trace -c 1` has counted a packet handed off (P), a later packet
/// (Q) handed to a third worker is past the count: the session shows
/// neither of Q's records, though Q's owner's comes before P's, and ends
/// with P's owner's, having counted one packet.
#[test]
fn a_trace_past_its_count_shows_only_the_owner_record_of_its_packet() {
    let umem = ringvs::io::mem::MemUmem::new();
    let mut lab = MemDirector::steered_on(3, &umem);
    lab.resolve_all();
    let owned_by = |w| {
        (40000u16..)
            .find(|&p| ringvs::io::fanout::owner(be(CLIENT), p, 3, 0) == w)
            .expect("a port")
    };
    let (p_port, q_port) = (owned_by(1), owned_by(2));
    let (served, mut r) = steered_trace(&mut lab);
    let now = lab.now;
    for port in [p_port, q_port] {
        lab.workers[0].rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), port, 80, SYN));
        lab.workers[0].poll_once(now);
    }
    assert_eq!(lab.workers[0].core.ctr.get(Ctr::HandoffOut), 2);
    lab.workers[2].poll_once(now);
    assert_eq!(lab.workers[2].tx[Nic::Int].take_sent().len(), 1);
    until_trace_taken(&lab);
    assert!(!served.is_finished(), "ended before P's owner's record");
    lab.workers[1].poll_once(now);
    assert_eq!(lab.workers[1].tx[Nic::Int].take_sent().len(), 1);
    let (lines, v) = trace_to_end(&mut r);
    served.join().expect("served");
    assert_eq!(
        (v["packets"].as_u64(), v["end"].as_str()),
        (Some(1), Some("count"))
    );
    let rx: Vec<_> = lines.iter().filter(|l| l.contains(" rx ")).collect();
    let p = format!(":{p_port} ");
    assert_eq!(rx.len(), 2, "{lines:#?}");
    assert!(
        rx[0].starts_with("#1 rx worker 0 nic ext tcp") && rx[0].contains(&p),
        "{lines:#?}"
    );
    assert!(
        rx[1].starts_with("#2 rx worker 1 nic ext (handed off)") && rx[1].contains(&p),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains(&format!(":{q_port} "))),
        "{lines:#?}"
    );
}

/// A host whose workers take each republished tap only when the test says
/// so (`seen`), as busy workers take it at their next pass.
#[derive(Default)]
struct SlowHost {
    slot: ringvs::observe::TapSlot,
    epoch: std::sync::atomic::AtomicU64,
    seen: std::sync::atomic::AtomicU64,
}

impl ringvs::observe::stream::TapHost for SlowHost {
    fn tap(&self) -> &ringvs::observe::TapSlot {
        &self.slot
    }
    fn republish(&self) -> u64 {
        self.epoch.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn loaded(&self, e: u64) -> bool {
        self.seen.load(Ordering::SeqCst) >= e
    }
    fn stopping(&self) -> bool {
        false
    }
    fn load_wait(&self) -> Duration {
        PATIENT
    }
}

/// The end message's `dropped` counts what the workers dropped for the
/// capture until each let it go, not only until it was detached: the
/// director waits for them (as it does at attach), so it matches their
/// `capture_dropped`.
#[test]
fn the_end_counts_the_drops_of_workers_that_still_had_the_capture() {
    use ringvs::observe::stream::serve_capture;
    use std::io::BufRead;
    let host = Arc::new(SlowHost::default());
    let (director, client) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let h = Arc::clone(&host);
    let served = std::thread::spawn(move || serve_capture(&*h, &director, "both", "both", "", 1));
    while host.epoch.load(Ordering::SeqCst) < 1 {
        std::thread::yield_now();
    }
    let cap = host.slot.current().and_then(|t| t.capture.clone());
    let cap = cap.expect("attached");
    host.seen.store(1, Ordering::SeqCst);
    let mut r = std::io::BufReader::new(client);
    let mut answer = String::new();
    r.read_line(&mut answer).expect("response");
    assert!(answer.contains("\"code\":0"), "{answer}");
    let p = Point {
        nic: Nic::Ext,
        tx: false,
    };
    assert!(cap.offer(0, p, &marked(1), 1000));
    // Count reached: detached and republished; a worker that has not
    // taken the change yet still offers, and drops once the pool is empty.
    while host.epoch.load(Ordering::SeqCst) < 2 {
        std::thread::yield_now();
    }
    // The director empties the queue meanwhile (what matched past the count
    // is thrown away): offered faster than it does, some drop.
    let t = std::time::Instant::now();
    while cap.dropped.load(Ordering::Relaxed) < 10 && t.elapsed() < BOUND {
        for _ in 0..4 * ringvs::observe::CAPTURE_SLOTS {
            cap.offer(0, p, &marked(2), 1000);
        }
    }
    let dropped = cap.dropped.load(Ordering::Relaxed);
    assert!(dropped >= 10, "{dropped}");
    host.seen.store(2, Ordering::SeqCst);
    let v = end_of(&mut r);
    served.join().expect("served");
    assert_eq!(
        (v["packets"].as_u64(), v["dropped"].as_u64()),
        (Some(1), Some(dropped)),
        "{v}"
    );
}

/// Once its count is reached, a trace's queue is still emptied while the
/// director waits for the workers to let the session go: what matches on
/// a worker that still has it is past the count, thrown away, and not
/// counted as dropped (`trace_dropped`, the end's `dropped`) for want of
/// room in a queue nobody read.
#[test]
fn records_past_the_count_are_discarded_not_dropped_while_workers_let_go() {
    use ringvs::observe::TraceRec;
    use ringvs::observe::stream::serve_trace;
    use std::io::BufRead;
    let host = Arc::new(SlowHost::default());
    let (director, client) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let h = Arc::clone(&host);
    let served = std::thread::spawn(move || serve_trace(&*h, &director, "", 1, &|_, _, _| None));
    while host.epoch.load(Ordering::SeqCst) < 1 {
        std::thread::yield_now();
    }
    let tr = host.slot.current().and_then(|t| t.trace.clone());
    let tr = tr.expect("attached");
    host.seen.store(1, Ordering::SeqCst);
    let mut r = std::io::BufReader::new(client);
    let mut answer = String::new();
    r.read_line(&mut answer).expect("response");
    assert!(answer.contains("\"code\":0"), "{answer}");
    assert!(tr.push(TraceRec::default()));
    while host.epoch.load(Ordering::SeqCst) < 2 {
        std::thread::yield_now();
    }
    // More than the queue holds, a worker that has not let go yet; each
    // round fits in the queue and is taken before the next.
    for _ in 0..5 {
        for _ in 0..ringvs::observe::TRACE_SLOTS / 4 {
            tr.push(TraceRec::default());
        }
        until_taken(&tr);
    }
    host.seen.store(2, Ordering::SeqCst);
    let v = end_of(&mut r);
    served.join().expect("served");
    assert_eq!(
        (v["packets"].as_u64(), v["dropped"].as_u64()),
        (Some(1), Some(0)),
        "{v}"
    );
    assert_eq!(tr.dropped.load(Ordering::Relaxed), 0);
}

/// A fragment handed on twice (to its datagram's tracker, then to the
/// connection's owner) gives three records: the receiver's (`handoff_out`),
/// the tracker's (handed off, `handoff_out`) and the owner's (handed off).
/// `trace -c 1` shows the three and counts one packet, where the tracker's
/// closed the packet as if it were the owner's and the owner's (its `conn`
/// and `rewrite` lines) was past the count, not shown.
#[test]
fn trace_c_1_shows_a_fragment_handed_on_twice_with_its_three_records() {
    use ringvs::observe::TraceRec;
    use ringvs::observe::stream::serve_trace;
    use std::io::BufRead;
    let host = Arc::new(Host::default());
    let (director, client) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let h = Arc::clone(&host);
    let served = std::thread::spawn(move || serve_trace(&*h, &director, "", 1, &|_, _, _| None));
    let mut r = std::io::BufReader::new(client);
    let mut answer = String::new();
    r.read_line(&mut answer).expect("response");
    assert!(answer.contains("\"code\":0"), "{answer}");
    let tr = host.slot.current().and_then(|t| t.trace.clone());
    let tr = tr.expect("attached");
    let out = 1u128 << Ctr::HandoffOut as usize;
    for (worker, handed, moved) in [(0, false, out), (1, true, out), (2, true, 0)] {
        assert!(tr.push(TraceRec {
            worker,
            id: 0x1234_5678,
            len: 1514,
            handed,
            moved,
            ..TraceRec::default()
        }));
    }
    let (lines, v) = trace_to_end(&mut r);
    served.join().expect("served");
    assert_eq!(
        (v["packets"].as_u64(), v["end"].as_str()),
        (Some(1), Some("count")),
        "{v}"
    );
    let rx: Vec<_> = lines.iter().filter(|l| l.contains(" rx ")).collect();
    assert_eq!(
        rx,
        [
            "#1 rx worker 0 nic ext non-ip len 1514",
            "#2 rx worker 1 nic ext (handed off) non-ip len 1514",
            "#3 rx worker 2 nic ext (handed off) non-ip len 1514",
        ],
        "{lines:#?}"
    );
}
