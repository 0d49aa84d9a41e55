//! Zero-copy forwarding on the in-memory backend: queues on one `MemUmem`
//! lend a received frame to the other NIC's TX queue, as AF_XDP sockets on a
//! shared UMEM do (`dataplane/tx.rs`, `Core::send_in_place`). The same frames
//! go through a copying director and an in-place one: what comes out must be
//! the same bytes, and the in-place one must have sent every forwarded frame
//! from its own RX buffer.

mod inmem;

use inmem::frames6;
use inmem::*;
use ringvs::Nic;
use ringvs::config::{Forward, TunCsum, TunKind, Tunnel};
use ringvs::io::RxMeta;
use ringvs::stats::Ctr;

/// Push `frame` on `nic` of both directors, poll, and check both sent the same.
fn both(a: &mut MemDirector, b: &mut MemDirector, nic: Nic, frame: &[u8]) -> Vec<Vec<u8>> {
    let meta = RxMeta {
        wire_len: frame.len() as u32,
        ..RxMeta::default()
    };
    both_with(a, b, nic, frame, meta)
}

fn both_with(
    a: &mut MemDirector,
    b: &mut MemDirector,
    nic: Nic,
    frame: &[u8],
    meta: RxMeta,
) -> Vec<Vec<u8>> {
    let out = |d: &mut MemDirector| {
        d.w().rx[nic].push_with(frame, meta);
        d.poll_take()
    };
    let (ea, ia) = out(a);
    let (eb, ib) = out(b);
    assert_eq!(ea, eb, "external NIC");
    assert_eq!(ia, ib, "internal NIC");
    ea.into_iter().chain(ia).collect()
}

#[test]
fn in_place_forwarding_sends_what_copying_sends() {
    let (mut copy, mut zc) = (MemDirector::standard(), MemDirector::in_place());
    zc.resolve_all();
    let c = L3::to_vip();
    // A connection: SYN in, SYN-ACK back, data in with a partial checksum
    // and Ethernet padding behind the IP packet (only the packet is sent).
    let fwd = both(&mut copy, &mut zc, Nic::Ext, &tcp_frame(&c, 40000, 80, SYN));
    let p = parse_ip(&fwd[0]);
    let rs = L3::from_rs(p.dst, CLIENT);
    both(
        &mut copy,
        &mut zc,
        Nic::Int,
        &tcp_frame(&rs, 80, 40000, SYN | ACK),
    );
    let mut data = tcp_seg(
        &c,
        40000,
        80,
        ACK | PSH,
        1001,
        5001,
        b"GET / HTTP/1.0\r\n\r\n",
    );
    make_partial(&mut data);
    data.extend_from_slice(&[0xee; 10]);
    let partial = RxMeta {
        wire_len: data.len() as u32,
        csum_partial: true,
        ..RxMeta::default()
    };
    let out = both_with(&mut copy, &mut zc, Nic::Ext, &data, partial);
    assert_eq!(out[0].len(), data.len() - 10, "padding not sent");
    let p = parse_ip(&out[0]); // checksums completed, in place
    assert_eq!(p.payload, b"GET / HTTP/1.0\r\n\r\n");
    // An ICMP error about the connection, translated in place.
    let err = icmp_error(&rs, 3, 3, [0; 4], &fwd[0], 64);
    assert_eq!(both(&mut copy, &mut zc, Nic::Int, &err).len(), 1);
    // An echo request to the VIP is answered by a frame the worker makes.
    both(
        &mut copy,
        &mut zc,
        Nic::Ext,
        &echo_request(&c, 7, 1, b"ping"),
    );

    let fwd = zc.ctr(Ctr::FwdIn) + zc.ctr(Ctr::FwdOut) + zc.ctr(Ctr::IcmpErrorNat);
    assert_eq!(fwd, 4);
    assert_eq!(
        zc.ctr(Ctr::TxZeroCopy),
        fwd,
        "every forwarded frame in place"
    );
    assert_eq!(copy.ctr(Ctr::TxZeroCopy), 0);
    assert_eq!(zc.ctr(Ctr::IcmpEchoReply), 1);
    for c in [Ctr::TxExt, Ctr::TxInt, Ctr::TxExtBytes, Ctr::TxIntBytes] {
        assert_eq!(zc.ctr(c), copy.ctr(c), "{}", c.name());
    }
    assert_eq!(drop_sum(&zc.w().core.ctr), 0);
}

/// A frame whose next hop is not resolved yet is parked (copied) and sent
/// when ARP answers; the frames after it go in place.
#[test]
fn a_parked_frame_is_copied_and_the_next_ones_go_in_place() {
    let mut zc = MemDirector::in_place();
    zc.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    let c = L3::to_vip();
    let (e, i) = zc.ext(&tcp_frame(&c, 40001, 80, SYN));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(zc.ctr(Ctr::NeighQueued), 1);
    zc.resolve(Nic::Int, RS1, RS1_MAC);
    zc.resolve(Nic::Int, RS2, RS2_MAC);
    let (_, i) = zc.poll_take();
    assert_eq!(i.len(), 1, "the parked SYN");
    assert_eq!(zc.ctr(Ctr::TxZeroCopy), 0);
    let (_, i) = zc.ext(&tcp_frame(&c, 40001, 80, ACK));
    assert_eq!(parse_ip(&one(i)).flags, ACK);
    assert_eq!(zc.ctr(Ctr::TxZeroCopy), 1);
}

fn one(frames: Vec<Vec<u8>>) -> Vec<u8> {
    assert_eq!(frames.len(), 1, "expected exactly one frame");
    frames.into_iter().next().expect("one frame")
}

/// While a capture is attached, frames go through the copy path, so the
/// capture sees what is sent; once detached, they go in place again.
#[test]
fn a_capture_sees_forwarded_frames_as_copies() {
    use ringvs::observe::filter::Filter;
    use ringvs::observe::{Capture, Point, points};
    use std::sync::Arc;

    let mut zc = MemDirector::in_place();
    zc.resolve_all();
    let cap = Arc::new(Capture::new(
        Filter::parse("tcp").expect("filter"),
        points("int", "tx").expect("points"),
        8,
    ));
    zc.shared
        .tap
        .attach(Some(Arc::clone(&cap)), None)
        .expect("attach");
    zc.shared.bump();
    let (_, i) = zc.ext(&tcp_frame(&L3::to_vip(), 40002, 80, SYN));
    let sent = one(i);
    assert_eq!(zc.ctr(Ctr::TxZeroCopy), 0, "copied while tapped");
    let got = cap.full_rx.try_recv().expect("the SYN as sent on int");
    let int_tx = Point {
        nic: Nic::Int,
        tx: true,
    };
    assert_eq!(Point::from_code(got.point), int_tx);
    assert_eq!(&got.data[..usize::from(got.len)], &sent[..]);

    zc.shared.tap.detach(Some(&cap), None);
    zc.shared.bump();
    let (_, i) = zc.ext(&tcp_frame(&L3::to_vip(), 40002, 80, ACK));
    assert_eq!(i.len(), 1);
    assert_eq!(zc.ctr(Ctr::TxZeroCopy), 1, "in place once detached");
    assert!(cap.full_rx.try_recv().is_err());
}

/// Two steering workers with every queue on one frame memory, neighbors
/// resolved.
fn steered_pair() -> (std::sync::Arc<ringvs::io::mem::MemUmem>, MemDirector) {
    let umem = ringvs::io::mem::MemUmem::new();
    let mut d = MemDirector::steered_on(2, &umem);
    d.resolve_all();
    (umem, d)
}

/// A client port whose connection worker `k` of two owns.
fn port_owned_by(k: usize) -> u16 {
    (40000u16..)
        .find(|&p| ringvs::io::fanout::owner(be(CLIENT), p, 2, 0) == k)
        .expect("a port")
}

/// Two workers that steer every TCP/UDP frame to the owner of its client
/// key, all their queues on one frame memory (as `io::xdp::open_workers`
/// opens AF_XDP sockets): a frame that reaches the other worker goes to its
/// owner by its descriptor and leaves from the buffer it arrived in. A frame
/// the owner drops, and one a full ring refuses, go back to the frame
/// memory: nothing stays lent.
#[test]
fn handoffs_move_descriptors_on_one_frame_memory() {
    let (umem, mut d) = steered_pair();
    let now = d.now;
    let (cport, other) = (port_owned_by(1), port_owned_by(0));
    let c = L3::to_vip();
    let poll = |d: &mut MemDirector, k: usize| {
        d.workers[k].poll_once(now);
        let t = &mut d.workers[k].tx;
        (t[Nic::Ext].take_sent(), t[Nic::Int].take_sent())
    };

    // The SYN reaches worker 0; worker 1 owns the connection.
    d.workers[0].rx[Nic::Ext].push(&tcp_frame(&c, cport, 80, SYN));
    let (e, i) = poll(&mut d, 0);
    assert!(e.is_empty() && i.is_empty(), "worker 0 sent {e:?} {i:?}");
    assert_eq!(umem.lent(), 1, "in the ring, by its descriptor");
    let (e, i) = poll(&mut d, 1);
    assert!(e.is_empty());
    let syn = parse_ip(&one(i));
    assert_eq!((syn.src, syn.sport, syn.dport), (CLIENT, cport, 80));
    assert!(syn.dst == RS1 || syn.dst == RS2);
    // The real server's answer reaches worker 0 too.
    let rs = L3::from_rs(syn.dst, CLIENT);
    d.workers[0].rx[Nic::Int].push(&tcp_frame(&rs, 80, cport, SYN | ACK));
    poll(&mut d, 0);
    let (e, _) = poll(&mut d, 1);
    let back = parse_ip(&one(e));
    assert_eq!((back.src, back.dst, back.sport), (VIP, CLIENT, 80));
    let ctr = |d: &MemDirector, k: usize, c: Ctr| d.workers[k].core.ctr.get(c);
    assert_eq!(ctr(&d, 0, Ctr::HandoffOut), 2);
    assert_eq!(ctr(&d, 0, Ctr::HandoffZeroCopy), 2);
    assert_eq!(ctr(&d, 1, Ctr::HandoffIn), 2);
    assert_eq!(
        ctr(&d, 1, Ctr::TxZeroCopy),
        2,
        "both sent from their own buffers"
    );
    assert_eq!(umem.lent(), 0);

    // An ACK of no connection is handed over, dropped by its owner, and its
    // frame given back.
    d.workers[1].rx[Nic::Ext].push(&tcp_frame(&c, other, 80, ACK));
    poll(&mut d, 1);
    assert_eq!(umem.lent(), 1);
    let (e, i) = poll(&mut d, 0);
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(ctr(&d, 0, Ctr::DropNoConn), 1);
    assert_eq!(umem.lent(), 0, "the dropped frame went back");

    // More frames than the ring holds while the owner does not run: the
    // rest are refused, counted, and their frames go back at once.
    let extra = 3;
    for _ in 0..HANDOFF_DEPTH + extra {
        d.workers[0].rx[Nic::Ext].push(&tcp_frame(&c, cport, 80, ACK));
    }
    poll(&mut d, 0);
    assert_eq!(ctr(&d, 0, Ctr::DropHandoffFull), extra as u64);
    assert_eq!(ctr(&d, 0, Ctr::HandoffZeroCopy), 2 + HANDOFF_DEPTH as u64);
    assert_eq!(umem.lent(), HANDOFF_DEPTH);
    let (_, i) = poll(&mut d, 1);
    assert_eq!(i.len(), HANDOFF_DEPTH);
    assert!(i.iter().all(|f| parse_ip(f).dst == syn.dst));
    assert_eq!(umem.lent(), 0);
    assert_eq!(ctr(&d, 0, Ctr::HandoffOut), ctr(&d, 1, Ctr::HandoffIn));
    assert_eq!(ctr(&d, 1, Ctr::HandoffOut), ctr(&d, 0, Ctr::HandoffIn));
    assert_eq!(ctr(&d, 1, Ctr::TxZeroCopy), 2 + HANDOFF_DEPTH as u64);
}

/// At exit, frames still in the handoff rings go back to the frame memory
/// once every worker has stopped sending (`Worker::finish`, which `run`
/// ends with), so nothing stays lent when the sockets close.
#[test]
fn frames_in_flight_between_workers_go_back_at_exit() {
    let (umem, mut d) = steered_pair();
    let now = d.now;
    let cport = port_owned_by(1);
    // Worker 1 owns the connection; worker 0 receives its frames and hands
    // them over, and worker 1 never runs to take them.
    for _ in 0..5 {
        d.workers[0].rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), cport, 80, SYN));
    }
    d.workers[0].poll_once(now);
    assert_eq!(d.workers[0].core.ctr.get(Ctr::HandoffZeroCopy), 5);
    assert_eq!(umem.lent(), 5, "in the ring to worker 1");
    let given: Vec<usize> = std::thread::scope(|s| {
        let all: Vec<_> = d
            .workers
            .iter_mut()
            .map(|w| s.spawn(|| w.finish()))
            .collect();
        all.into_iter().map(|t| t.join().expect("finish")).collect()
    });
    assert_eq!(given, [0, 5], "worker 1 gave back what was handed to it");
    assert_eq!(umem.lent(), 0);
    assert_eq!(
        d.workers[1].core.ctr.get(Ctr::HandoffIn),
        0,
        "given back, not handled"
    );
    assert_eq!(d.workers[1].core.ctr.get(Ctr::DropHandoffStopped), 5);
}

/// A stopping worker's drain takes what another worker, draining its own
/// rings, handed it: frames of its connections that came in on the other
/// worker's queue are forwarded, not given back.
#[test]
fn a_stopping_worker_forwards_what_another_hands_it() {
    let (umem, mut d) = steered_pair();
    let cport = port_owned_by(1);
    d.poll();
    for _ in 0..5 {
        d.workers[0].rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), cport, 80, SYN));
    }
    assert_eq!(d.workers[0].drain_at_stop(), 5);
    assert_eq!(umem.lent(), 5, "in the ring to worker 1");
    assert_eq!(d.workers[1].drain_at_stop(), 5);
    assert_eq!(d.workers[1].core.ctr.get(Ctr::HandoffIn), 5);
    assert_eq!(d.workers[1].tx[Nic::Int].take_sent().len(), 5);
}

/// A worker whose peers never say they stopped (gone, or stuck) still gives
/// back what its handoff rings hold once the wait for them runs out (1 s).
#[test]
fn frames_in_flight_go_back_even_when_a_peer_never_finishes() {
    let (umem, mut d) = steered_pair();
    let now = d.now;
    let cport = port_owned_by(1);
    for _ in 0..3 {
        d.workers[0].rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), cport, 80, SYN));
    }
    d.workers[0].poll_once(now);
    assert_eq!(umem.lent(), 3, "in the ring to worker 1");
    // Worker 0 never calls finish.
    assert_eq!(d.workers[1].finish(), 3);
    assert_eq!(umem.lent(), 0);
}

/// A copying and an in-place director, both forwarding by `fwd`.
fn pair_by(fwd: Forward) -> (MemDirector, MemDirector) {
    let (mut copy, mut zc) = (MemDirector::standard(), MemDirector::in_place());
    zc.resolve_all();
    copy.forward_all(fwd);
    zc.forward_all(fwd);
    (copy, zc)
}

/// A tunnelled frame grows by its outer headers, so it cannot leave from
/// its RX buffer: it is built in a buffer of its own and copied, the same
/// bytes as a copying director sends (Ethernet padding left behind).
#[test]
fn tunnelled_frames_are_built_apart_not_in_place() {
    let gue = Forward::Tunnel(Tunnel {
        kind: TunKind::Gue,
        port: 6080,
        csum: TunCsum::Csum,
    });
    let (mut copy, mut zc) = pair_by(gue);
    let mut syn = tcp_frame(&L3::to_vip(), 40000, 80, SYN);
    syn.extend_from_slice(&[0xee; 6]);
    let out = both(&mut copy, &mut zc, Nic::Ext, &syn);
    assert_eq!(out.len(), 1);
    assert_eq!(zc.ctr(Ctr::TunnelEncap), 1);
    assert_eq!(zc.ctr(Ctr::TxZeroCopy), 0);
    assert_eq!(
        drop_sum(&zc.w().core.ctr),
        0,
        "{:?}",
        drops(&zc.w().core.ctr)
    );
}

/// DR sends the frame as it came, its partial checksum completed, from its
/// own buffer, without the Ethernet padding behind the IP packet.
#[test]
fn direct_routing_in_place_completes_the_checksum_and_drops_the_padding() {
    let (mut copy, mut zc) = pair_by(Forward::Route);
    let mut syn = tcp_frame(&L3::to_vip(), 40000, 80, SYN);
    make_partial(&mut syn);
    syn.extend_from_slice(&[0xee; 6]);
    let meta = RxMeta {
        wire_len: syn.len() as u32,
        csum_partial: true,
        ..RxMeta::default()
    };
    let out = both_with(&mut copy, &mut zc, Nic::Ext, &syn, meta);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), syn.len() - 6);
    assert_eq!(zc.ctr(Ctr::TxZeroCopy), 1);
}

/// IPv6 NAT in place: the same bytes as copying, padding left behind.
#[test]
fn ipv6_nat_in_place_sends_what_copying_sends() {
    let mut copy = MemDirector::dual_stack(STANDARD6);
    let mut zc = MemDirector::in_place_with(STANDARD6, env6());
    for d in [&mut copy, &mut zc] {
        d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
        d.resolve6(Nic::Int, RS1_6, RS1_MAC);
        d.resolve6(Nic::Int, RS2_6, RS2_MAC);
    }
    let mut syn = frames6::tcp(&l3_to_vip6(), &[], 40000, 80, SYN, b"hello");
    syn.extend_from_slice(&[0xee; 7]);
    let out = both(&mut copy, &mut zc, Nic::Ext, &syn);
    assert_eq!(out.len(), 1, "{:?}", drops(&zc.w().core.ctr));
    assert_eq!(out[0].len(), syn.len() - 7);
    assert_eq!(zc.ctr(Ctr::TxZeroCopy), 1);
}

/// A full TX ring: the frame is dropped as `drop_tx_full`, given back to
/// the RX ring's memory, and not counted as forwarded.
#[test]
fn a_full_tx_ring_drops_the_frame_and_counts_it_once() {
    let mut zc = MemDirector::in_place();
    zc.resolve_all();
    zc.w().tx[Nic::Int].capacity = 0;
    let (e, i) = zc.ext(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(zc.ctr(Ctr::DropTxFull), 1);
    assert_eq!(
        zc.ctr(Ctr::FwdIn),
        0,
        "a dropped frame counted as forwarded"
    );
    assert_eq!(zc.ctr(Ctr::TxIntBytes), 0);
    assert_eq!(zc.ctr(Ctr::TxZeroCopy), 0);
    assert!(zc.w().rx[Nic::Ext].is_empty());
}

/// A stopping worker forwards what its RX rings already hold (AF_XDP's
/// programs are detached first, so nothing more comes), where it used to
/// leave it to the closing sockets; and stops at the first empty burst.
#[test]
fn a_stopping_worker_forwards_what_its_rings_hold() {
    let mut d = MemDirector::in_place();
    d.resolve_all();
    let c = L3::to_vip();
    d.poll();
    for port in 0..100 {
        d.w().rx[Nic::Ext].push(&tcp_frame(&c, 40000 + port, 80, SYN));
    }
    assert_eq!(d.w().drain_at_stop(), 100);
    assert_eq!(d.w().tx[Nic::Int].take_sent().len(), 100);
    assert_eq!(d.w().drain_at_stop(), 0);
}

/// What the queues counted since the once-a-second read (the kernel's
/// drops, AF_XDP's bad addresses) is published when the worker stops: it
/// used to be lost, and with it the `xdp_bad_addr` that explains a UMEM's
/// bookkeeping note at exit.
#[test]
fn the_last_seconds_queue_counts_are_published_at_exit() {
    let mut d = MemDirector::in_place();
    let w = d.w();
    w.rx[Nic::Ext].kernel_drops = ringvs::io::KernelDrops {
        ring_full: 1,
        fill_empty: 2,
        tx_invalid: 3,
    };
    w.rx[Nic::Int].bad_addrs = 4;
    w.rx[Nic::Ext].bad_addrs = 5;
    w.tx[Nic::Int].rejected = 6;
    w.tx[Nic::Ext].rejected = 1;
    w.finish();
    assert_eq!(d.published_ctr(Ctr::KernelDrop), 1);
    assert_eq!(d.published_ctr(Ctr::XdpFillEmpty), 2);
    assert_eq!(d.published_ctr(Ctr::XdpTxInvalid), 3);
    assert_eq!(d.published_ctr(Ctr::XdpBadAddr), 9);
    assert_eq!(d.published_ctr(Ctr::TxRejected), 7);
}
