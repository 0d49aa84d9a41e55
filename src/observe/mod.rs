//! Packet-level observation: `ringvs capture` and `ringvs trace`.
//!
//! The control thread publishes a [`Tap`] in [`Shared::tap`](crate::dataplane::Shared)
//! and bumps the epoch; each worker caches it as an `Option<Arc<Tap>>` when it
//! re-loads its snapshots. With nothing attached, the whole cost on the fast path is
//! one test of that cached option per received frame (`Core::handle`).
//!
//! When something is attached, a worker copies each matching frame into a buffer
//! taken from a fixed pool (allocated at attach time) and passes it through a
//! bounded channel; a trace record is a small `Copy` struct sent through a bounded
//! channel. If the pool or the channel is empty/full (the reader is slow), the frame
//! or record is dropped and counted (`capture_dropped`, `trace_dropped`): the worker never waits.
//! The reader (a control-socket client thread) polls the channel, so the workers'
//! sends never wake a sleeping thread (no syscall per packet).

pub mod client;
pub mod filter;
pub mod metrics;
pub mod pcap;
pub mod stream;
pub mod top;

use crate::Nic;
use crate::io::TxQueue;
use crate::nat::State;
use crossbeam_channel::{Receiver, Sender, bounded};
use filter::Filter;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of a frame a capture keeps.
pub const SNAPLEN: usize = crate::io::FRAME_MAX;
/// Preallocated capture buffers per capture session.
pub const CAPTURE_SLOTS: usize = 1024;
/// Trace records that may wait for the reader.
pub const TRACE_SLOTS: usize = 4096;

/// Where a frame is seen: on which NIC, received or sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    pub nic: Nic,
    pub tx: bool,
}

impl Point {
    fn bit(self) -> u8 {
        1 << ((self.nic as u8) * 2 + u8::from(self.tx))
    }
    pub fn code(self) -> u8 {
        (self.nic as u8) * 2 + u8::from(self.tx)
    }
    pub fn from_code(c: u8) -> Point {
        Point {
            nic: if c & 2 == 0 { Nic::Ext } else { Nic::Int },
            tx: c & 1 == 1,
        }
    }
    pub fn name(self) -> &'static str {
        match (self.nic, self.tx) {
            (Nic::Ext, false) => "ext rx",
            (Nic::Ext, true) => "ext tx",
            (Nic::Int, false) => "int rx",
            (Nic::Int, true) => "int tx",
        }
    }
}

/// The set of points a capture takes frames at, from `--nic` and `--dir`.
pub fn points(nic: &str, dir: &str) -> Result<u8, String> {
    let nics: &[Nic] = match nic {
        "ext" => &[Nic::Ext],
        "int" => &[Nic::Int],
        "both" => &[Nic::Ext, Nic::Int],
        n => return Err(format!("--nic must be ext, int or both, not `{n}`")),
    };
    let dirs: &[bool] = match dir {
        "rx" => &[false],
        "tx" => &[true],
        "both" => &[false, true],
        d => return Err(format!("--dir must be rx, tx or both, not `{d}`")),
    };
    let mut m = 0;
    for &nic in nics {
        for &tx in dirs {
            m |= Point { nic, tx }.bit();
        }
    }
    Ok(m)
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One captured frame.
pub struct CapFrame {
    pub ts_ns: u64,
    pub worker: u16,
    pub point: u8,
    pub len: u16,
    pub orig_len: u32,
    pub data: [u8; SNAPLEN],
}

/// A capture session: its filter, points and buffers.
pub struct Capture {
    pub filter: Filter,
    points: u8,
    full_tx: Sender<Box<CapFrame>>,
    pub full_rx: Receiver<Box<CapFrame>>,
    pub free_tx: Sender<Box<CapFrame>>,
    free_rx: Receiver<Box<CapFrame>>,
    /// Frames that matched but found no free buffer.
    pub dropped: AtomicU64,
}

impl Capture {
    pub fn new(filter: Filter, points: u8, slots: usize) -> Self {
        let (full_tx, full_rx) = bounded(slots);
        let (free_tx, free_rx) = bounded(slots);
        for _ in 0..slots {
            let _ = free_tx.try_send(Box::new(CapFrame {
                ts_ns: 0,
                worker: 0,
                point: 0,
                len: 0,
                orig_len: 0,
                data: [0; SNAPLEN],
            }));
        }
        Self {
            filter,
            points,
            full_tx,
            full_rx,
            free_tx,
            free_rx,
            dropped: AtomicU64::new(0),
        }
    }

    #[inline]
    pub fn wants(&self, p: Point) -> bool {
        self.points & p.bit() != 0
    }

    /// Copy `frame` if it matches. Returns false if it matched but was dropped.
    pub fn offer(&self, worker: usize, p: Point, frame: &[u8], orig_len: usize) -> bool {
        self.offer_rx(worker, p, frame, orig_len, None)
    }

    /// [`Capture::offer`] of a received frame whose 802.1Q tag the kernel
    /// stripped into the ring header (`vlan`): the copy has it back after
    /// the MAC addresses, 4 bytes longer, as libpcap puts it back, so a
    /// frame counted `drop_vlan` shows its tag.
    pub fn offer_rx(
        &self,
        worker: usize,
        p: Point,
        frame: &[u8],
        orig_len: usize,
        vlan: Option<crate::io::VlanTag>,
    ) -> bool {
        if !self.wants(p) || !self.filter.matches(frame) {
            return true;
        }
        let Ok(mut b) = self.free_rx.try_recv() else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        b.ts_ns = now_ns();
        b.worker = worker as u16;
        b.point = p.code();
        let orig_len = orig_len.max(frame.len());
        let (len, orig_len) = match vlan.filter(|_| frame.len() >= 12) {
            None => {
                let len = frame.len().min(SNAPLEN);
                b.data[..len].copy_from_slice(&frame[..len]);
                (len, orig_len)
            }
            Some(t) => {
                let len = (frame.len() + 4).min(SNAPLEN);
                b.data[..12].copy_from_slice(&frame[..12]);
                b.data[12..14].copy_from_slice(&t.tpid.to_be_bytes());
                b.data[14..16].copy_from_slice(&t.tci.to_be_bytes());
                b.data[16..len].copy_from_slice(&frame[12..len - 4]);
                (len, orig_len + 4)
            }
        };
        b.len = len as u16;
        b.orig_len = orig_len as u32;
        match self.full_tx.try_send(b) {
            Ok(()) => true,
            Err(e) => {
                let _ = self.free_tx.try_send(e.into_inner());
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

/// A connection of either family as a trace record shows it (`IpAddr` keeps
/// the record fixed-size: no heap for IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnSnap {
    pub proto: u8,
    pub client: (IpAddr, u16),
    pub vip: (IpAddr, u16),
    pub rip: (IpAddr, u16),
    pub dest: u16,
    pub state: State,
    /// How its real server is reached (NAT, DR, TUN).
    pub forward: crate::config::Forward,
}

impl ConnSnap {
    pub fn of<A: crate::nat::Addr>(
        c: &crate::nat::Conn<A>,
        forward: crate::config::Forward,
    ) -> Self {
        Self {
            proto: c.proto,
            client: (c.client.to_ip(), c.cport),
            vip: (c.vip.to_ip(), c.vport),
            rip: (c.rip.to_ip(), c.rport),
            dest: c.dest().0 as u16,
            state: c.state,
            forward,
        }
    }
}

/// A frame a traced packet made the worker send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxSnap {
    pub nic: u8,
    pub dst_mac: [u8; 6],
    pub sum: filter::Summary,
}

/// What one worker did with one packet. Fixed size, no heap.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceRec {
    pub ts_ns: u64,
    pub worker: u16,
    pub nic: u8,
    pub handed: bool,
    pub len: u16,
    /// [`frame_id`]: with `nic`, what pairs the records a packet handed to
    /// another worker gives on each.
    pub id: u32,
    pub sum: filter::Summary,
    /// Bit `Ctr as usize` set for every counter the packet moved.
    pub moved: u128,
    pub before: Option<ConnSnap>,
    pub after: Option<ConnSnap>,
    /// Up to two frames sent (a NAT'd packet; an ARP or echo reply; the
    /// first two fragments of a fragmented one).
    pub tx: [Option<TxSnap>; 2],
}

/// CRC32C of an Ethernet frame up to the end of the IP packet its header
/// claims (all of it if not IP, or if the frame holds less): the bytes a
/// worker hands to another, which leaves out a short frame's Ethernet
/// padding (`classify::fast4`), so that both records of the packet carry
/// the same id. Computed only for a traced packet.
pub fn frame_id(data: &[u8]) -> u32 {
    let be = |i: usize| {
        data.get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    };
    let end = match be(12) {
        Some(0x0800) => be(16).map(|l| 14 + l),
        Some(0x86dd) => be(18).map(|l| 14 + 40 + l),
        _ => None,
    };
    let end = end.map_or(data.len(), |e| e.min(data.len()));
    crc32c::crc32c(&data[..end])
}

/// A trace session.
pub struct Trace {
    pub filter: Filter,
    tx: Sender<TraceRec>,
    pub rx: Receiver<TraceRec>,
    pub dropped: AtomicU64,
}

impl Trace {
    pub fn new(filter: Filter, slots: usize) -> Self {
        let (tx, rx) = bounded(slots);
        Self {
            filter,
            tx,
            rx,
            dropped: AtomicU64::new(0),
        }
    }

    pub fn push(&self, r: TraceRec) -> bool {
        if self.tx.try_send(r).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// What is attached now.
#[derive(Default)]
pub struct Tap {
    pub capture: Option<Arc<Capture>>,
    pub trace: Option<Arc<Trace>>,
}

/// The slot in `Shared` the control thread publishes taps in.
#[derive(Default)]
pub struct TapSlot {
    cur: arc_swap::ArcSwapOption<Tap>,
    /// Serializes attach/detach (control threads only).
    lock: Mutex<()>,
}

impl TapSlot {
    /// What workers cache (on epoch change only).
    pub fn current(&self) -> Option<Arc<Tap>> {
        self.cur.load_full()
    }

    /// Install a capture and/or trace next to what is attached. Fails if one of
    /// the same kind is attached already. The caller bumps the epoch.
    pub fn attach(
        &self,
        capture: Option<Arc<Capture>>,
        trace: Option<Arc<Trace>>,
    ) -> Result<(), String> {
        let _g = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = self.cur.load_full();
        let old_cap = old.as_ref().and_then(|t| t.capture.clone());
        let old_trace = old.as_ref().and_then(|t| t.trace.clone());
        if capture.is_some() && old_cap.is_some() {
            return Err("a capture is attached already (one at a time)".into());
        }
        if trace.is_some() && old_trace.is_some() {
            return Err("a trace is attached already (one at a time)".into());
        }
        self.cur.store(Some(Arc::new(Tap {
            capture: capture.or(old_cap),
            trace: trace.or(old_trace),
        })));
        Ok(())
    }

    /// Remove `capture` / `trace` if they are the ones attached. The caller bumps
    /// the epoch.
    pub fn detach(&self, capture: Option<&Arc<Capture>>, trace: Option<&Arc<Trace>>) {
        let _g = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(old) = self.cur.load_full() else {
            return;
        };
        let keep_cap = old
            .capture
            .clone()
            .filter(|c| capture.is_none_or(|x| !Arc::ptr_eq(c, x)));
        let keep_trace = old
            .trace
            .clone()
            .filter(|t| trace.is_none_or(|x| !Arc::ptr_eq(t, x)));
        if keep_cap.is_none() && keep_trace.is_none() {
            self.cur.store(None);
        } else {
            self.cur.store(Some(Arc::new(Tap {
                capture: keep_cap,
                trace: keep_trace,
            })));
        }
    }
}

/// A TX queue that shows every committed frame to the attached capture (and to
/// the trace record of the packet being traced). Used only while something is
/// attached, so the plain path is compiled without it: around `Core::handle`
/// and around the once-a-pass sends outside it (held fragments released,
/// errors for frames that waited too long for ARP).
pub struct TapTx<'a, T> {
    pub inner: &'a mut T,
    pub nic: Nic,
    pub worker: usize,
    pub capture: Option<&'a Capture>,
    /// Frames sent for the traced packet, if it is traced.
    pub traced: Option<[Option<TxSnap>; 2]>,
    /// Frames the capture could not take.
    pub dropped: u64,
}

impl<T: TxQueue> TxQueue for TapTx<'_, T> {
    fn slot(&mut self) -> Option<&mut [u8]> {
        self.inner.slot()
    }

    fn commit(&mut self, len: usize) {
        let (nic, worker, cap) = (self.nic, self.worker, self.capture);
        let traced = &mut self.traced;
        if let Some(slot) = self.inner.slot() {
            let f = &slot[..len.min(slot.len())];
            if let Some(c) = cap
                && !c.offer(worker, Point { nic, tx: true }, f, len)
            {
                self.dropped += 1;
            }
            if let Some(t) = traced
                && let Some(free) = t.iter_mut().find(|s| s.is_none())
            {
                let mut dst_mac = [0; 6];
                if let Some(m) = f.get(..6) {
                    dst_mac.copy_from_slice(m);
                }
                *free = Some(TxSnap {
                    nic: nic as u8,
                    dst_mac,
                    sum: filter::summarize(f),
                });
            }
        }
        self.inner.commit(len);
    }

    fn flush(&mut self) -> usize {
        self.inner.flush()
    }
}

/// The time stamp for records (wall clock, ns).
pub fn stamp() -> u64 {
    now_ns()
}

/// Show a frame sent outside [`TapTx`] (frames that waited for ARP) to the
/// capture, if one is attached. False if the capture had to drop it.
pub fn tap_sent(tap: &Option<Arc<Tap>>, worker: usize, nic: Nic, frame: &[u8]) -> bool {
    match tap.as_deref().and_then(|t| t.capture.as_deref()) {
        Some(c) => c.offer(worker, Point { nic, tx: true }, frame, frame.len()),
        None => true,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn frame() -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[23] = 17;
        f
    }

    #[test]
    fn a_slow_reader_loses_frames_not_time() {
        let c = Capture::new(Filter::default(), points("both", "both").unwrap(), 4);
        let p = Point {
            nic: Nic::Int,
            tx: true,
        };
        let ok = (0..10).filter(|_| c.offer(3, p, &frame(), 60)).count();
        assert_eq!(ok, 4);
        assert_eq!(c.dropped.load(Ordering::Relaxed), 6);
        let b = c.full_rx.try_recv().unwrap();
        assert_eq!((b.worker, Point::from_code(b.point), b.len), (3, p, 60));
        // A buffer given back makes room for one more.
        c.free_tx.try_send(b).unwrap();
        assert!(c.offer(0, p, &frame(), 60));
        assert!(!c.offer(0, p, &frame(), 60));
    }

    /// A frame whose 802.1Q tag the kernel stripped is captured with the
    /// tag back after the MAC addresses, 4 bytes longer, as libpcap writes
    /// it (`tcpdump -e`: `ethertype 802.1Q (0x8100) ... vlan 100`).
    #[test]
    fn a_stripped_vlan_tag_is_put_back() {
        let c = Capture::new(Filter::default(), points("both", "both").unwrap(), 4);
        let p = Point {
            nic: Nic::Ext,
            tx: false,
        };
        let tag = crate::io::VlanTag {
            tpid: 0x8100,
            tci: 100,
        };
        let f = frame();
        assert!(c.offer_rx(0, p, &f, 60, Some(tag)));
        let b = c.full_rx.try_recv().unwrap();
        assert_eq!((b.len, b.orig_len), (64, 64));
        assert_eq!(b.data[..12], f[..12]);
        assert_eq!(b.data[12..16], [0x81, 0x00, 0x00, 100]);
        assert_eq!(b.data[16..64], f[12..]);
        // Without a tag, as it came.
        assert!(c.offer_rx(0, p, &f, 60, None));
        let b = c.full_rx.try_recv().unwrap();
        assert_eq!((b.len, &b.data[..60]), (60, &f[..]));
    }

    /// The cuts docs/debugging.md names: the rings cut a received frame
    /// before the capture sees it, at less than the pcap snapshot length.
    #[test]
    fn the_rings_cut_before_the_snapshot_length() {
        let rx = (crate::io::ring::RX_FRAME_MAX, crate::io::xdp::RX_FRAME_MAX);
        assert_eq!(rx, (1982, 1792));
        const {
            assert!(crate::io::ring::RX_FRAME_MAX <= SNAPLEN);
            assert!(crate::io::ring::TX_FRAME_MAX <= SNAPLEN);
            assert!(crate::io::xdp::TX_FRAME_MAX <= SNAPLEN);
        }
    }

    #[test]
    fn points_and_filters_select() {
        let only = points("ext", "rx").unwrap();
        let c = Capture::new(Filter::parse("tcp").unwrap(), only, 4);
        let ext_rx = Point {
            nic: Nic::Ext,
            tx: false,
        };
        assert!(c.wants(ext_rx));
        assert!(!c.wants(Point {
            nic: Nic::Ext,
            tx: true
        }));
        assert!(!c.wants(Point {
            nic: Nic::Int,
            tx: false
        }));
        // UDP does not match `tcp`: nothing taken, nothing dropped.
        assert!(c.offer(0, ext_rx, &frame(), 60));
        assert!(c.full_rx.try_recv().is_err());
        assert!(points("eth0", "rx").is_err() && points("ext", "up").is_err());
    }

    #[test]
    fn one_session_of_each_kind_and_detach_by_identity() {
        let slot = TapSlot::default();
        let a = Arc::new(Capture::new(Filter::default(), 1, 1));
        let b = Arc::new(Capture::new(Filter::default(), 1, 1));
        let t = Arc::new(Trace::new(Filter::default(), 1));
        slot.attach(Some(Arc::clone(&a)), None).unwrap();
        assert!(slot.attach(Some(Arc::clone(&b)), None).is_err());
        slot.attach(None, Some(Arc::clone(&t))).unwrap();
        slot.detach(Some(&b), None); // not attached: no change
        assert!(slot.current().unwrap().capture.is_some());
        slot.detach(Some(&a), None);
        let cur = slot.current().unwrap();
        assert!(cur.capture.is_none() && cur.trace.is_some());
        slot.detach(None, Some(&t));
        assert!(slot.current().is_none());
    }
}
