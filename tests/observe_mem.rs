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

#[test]
fn trace_records_say_what_happened_and_a_full_queue_only_loses_records() {
    let mut lab = MemDirector::standard();
    let tr = Arc::new(Trace::new(
        Filter::parse("tcp and dst 198.18.0.110").expect("filter"),
        4,
    ));
    lab.shared
        .tap
        .attach(None, Some(Arc::clone(&tr)))
        .expect("attach");
    lab.shared.bump();
    lab.poll();
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
    assert_eq!(lab.ctr(Ctr::CaptureDropped), 3);
    let r = &recs[0];
    assert_eq!((r.nic, r.handed), (0, false));
    assert_eq!(r.sum.ports, Some((40000, 80)));
    assert!(r.before.is_none());
    let after = r.after.expect("connection created");
    assert_eq!(after.state, State::SynRecv);
    assert_eq!(after.rip.0, be(RS1));
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
